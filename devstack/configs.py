"""The sandbox Asterisk's own base configuration.

The sandbox owns the files below in the chroot's /etc/asterisk and rewrites them at every
start. Each one `#tryinclude`s the matching file that `implus dialplan render` (or a
test) writes, so a missing or empty include never stops Asterisk from starting.

Loopback layout (everything binds to 127.0.0.0/8):
- 127.0.0.1:5038 AMI, 127.0.0.1:5060 PJSIP (UDP). Agent phones live on 127.0.0.1 too.
- 127.0.0.2 is "the outside world": calls from there are customers (endpoint
  `customers`, identified by IP, dialplan context `sandbox-inbound`), and
  `PJSIP/<number>@customers` reaches a customer phone listening on 127.0.0.2:5070.
"""

from __future__ import annotations

import math
import struct

AMI_HOST = "127.0.0.1"
AMI_PORT = 5038
AMI_USER = "implus"
AMI_SECRET = "implus-sandbox"  # noqa: S105 - a loopback-only test PBX, not a credential
SIP_HOST = "127.0.0.1"
SIP_PORT = 5060
CUSTOMER_HOST = "127.0.0.2"
CUSTOMER_UAS_PORT = 5070

#: The include files the base configs pull in; `dialplan render` writes these names.
INCLUDE_FILES = (
    "extensions_implus.conf",
    "pjsip_implus.conf",
    "manager_implus.conf",
    "musiconhold_implus.conf",
    "queues_implus.conf",
    "http_implus.conf",
    "pjsip_webrtc_implus.conf",
    "extensions_webrtc_implus.conf",
)

#: Where the generated hold tone lives inside the chroot.
MOH_DIR = "/usr/share/asterisk/moh-implus"

ASTERISK_CONF = """\
; implus sandbox: rewritten at every `implus sandbox asterisk up`.
[directories]
astcachedir => /var/cache/asterisk
astetcdir => /etc/asterisk
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => /var/lib/asterisk
astdbdir => /var/lib/asterisk
astkeydir => /var/lib/asterisk
astdatadir => /usr/share/asterisk
astagidir => /usr/share/asterisk/agi-bin
astspooldir => /var/spool/asterisk
astrundir => /run/asterisk
astlogdir => /var/log/asterisk
astsbindir => /usr/sbin

[options]
documentation_language = en_US
nocolor = yes
; On in the sandbox only, so tests can show that generated files never carry a `#exec`
; (an admin file's `#exec` does run here: tests/asterisk/test_dialplan_sandbox.py).
execincludes = yes
"""

# Modules that either bind non-loopback sockets (IAX2, DUNDi, Unistim), talk to
# databases/directories we do not run, or only add start-up noise.
NOLOAD_MODULES = (
    "chan_iax2.so",
    "pbx_dundi.so",
    "chan_unistim.so",
    "chan_console.so",
    "chan_motif.so",
    "res_xmpp.so",
    "chan_websocket.so",
    "pbx_ael.so",
    "pbx_lua.so",
    "res_config_pgsql.so",
    "res_config_ldap.so",
    "res_config_odbc.so",
    "res_config_curl.so",
    "cdr_pgsql.so",
    "cel_pgsql.so",
    "cdr_odbc.so",
    "cel_odbc.so",
    "cdr_adaptive_odbc.so",
    "cdr_tds.so",
    "cel_tds.so",
    "cdr_radius.so",
    "cel_radius.so",
    "func_odbc.so",
    "res_odbc_transaction.so",
    "res_odbc.so",
    "res_phoneprov.so",
    "res_pjsip_phoneprov_provider.so",
    "res_pjsip_stir_shaken.so",
    "res_stir_shaken.so",
    "res_hep_rtcp.so",
    "res_hep_pjsip.so",
    "res_hep.so",
    "res_statsd.so",
    "res_snmp.so",
    "res_prometheus.so",
    "res_calendar_caldav.so",
    "res_calendar_ews.so",
    "res_calendar_exchange.so",
    "res_calendar_icalendar.so",
    "res_calendar.so",
    "app_voicemail_odbc.so",
    "app_minivm.so",
    "cdr_custom.so",
    "cdr_sqlite3_custom.so",
    "cel_custom.so",
    "cel_sqlite3_custom.so",
    "res_adsi.so",
    "app_adsiprog.so",
    "app_getcpeid.so",
)

MODULES_CONF = (
    "; implus sandbox: autoload everything except what binds outside loopback or is noise.\n"
    "[modules]\nautoload = yes\n" + "".join(f"noload => {m}\n" for m in NOLOAD_MODULES)
)

LOGGER_CONF = """\
; implus sandbox
[general]
[logfiles]
console => notice,warning,error
messages.log => notice,warning,error,verbose(3)
"""

MANAGER_CONF = f"""\
; implus sandbox: AMI on loopback only.
[general]
enabled = yes
port = {AMI_PORT}
bindaddr = {AMI_HOST}
displayconnects = no
; Channel events carry these as `ChanVariable: NAME=value` headers.
channelvars = IMPLUS_SERVICE,IMPLUS_ENTRY,IMPLUS_LANGUAGE,IMPLUS_USER

[{AMI_USER}]
secret = {AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.0/255.0.0.0
read = system,call,agent,user,dialplan,reporting,command,originate
write = system,call,agent,user,originate,reporting,command,config
; A slow reader is dropped after writetimeout (default 100 ms): tests and benchmarks
; run on a loaded 2-core machine.
writetimeout = 5000
; Debian builds Asterisk with the test framework: drop its TestEvent chatter.
eventfilter = !Event: TestEvent

#tryinclude manager_implus.conf
"""

PJSIP_CONF = f"""\
; implus sandbox: one UDP transport on loopback, plus the customers' side on
; {CUSTOMER_HOST}: calls from there are customers, PJSIP/<number>@customers calls out.
[transport-udp]
type = transport
protocol = udp
bind = {SIP_HOST}:{SIP_PORT}

[customers]
type = endpoint
context = sandbox-inbound
disallow = all
allow = ulaw,alaw
direct_media = no
aors = customers
; RTP would bind to all addresses without these two
media_address = {SIP_HOST}
bind_rtp_to_media_address = yes

[customers]
type = aor
contact = sip:{CUSTOMER_HOST}:{CUSTOMER_UAS_PORT}

[customers]
type = identify
endpoint = customers
match = {CUSTOMER_HOST}

#tryinclude pjsip_implus.conf
#tryinclude pjsip_webrtc_implus.conf
"""

EXTENSIONS_CONF = """\
; implus sandbox dialplan.
[general]
static = yes
writeprotect = yes
clearglobalvars = no

[globals]

[sandbox-inbound]
; Calls from the customers' side (127.0.0.2) land here: first the generated entry
; points, then the sandbox's own test extensions.
include => implus-entry
include => sandbox-test

[sandbox-test]
; 9990: answer, announce the call on AMI, hold on music for up to 30 s.
exten => 9990,1,Answer()
 same => n,UserEvent(SandboxCall,Caller: ${CALLERID(num)},Exten: ${EXTEN})
 same => n,MusicOnHold(default,30)
 same => n,Hangup()
; 9991: answer and hang up after one second (the far end hangs up first).
exten => 9991,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()

#tryinclude extensions_implus.conf
#tryinclude extensions_webrtc_implus.conf
"""

MUSICONHOLD_CONF = f"""\
; implus sandbox: a generated tone, because the chroot ships no music-on-hold files
; (without any files MusicOnHold() fails and the channel hangs up at once).
[general]

[default]
mode = files
directory = {MOH_DIR}

#tryinclude musiconhold_implus.conf
"""

QUEUES_CONF = """\
; implus sandbox: app_queue only for side-by-side benchmarks; queues come from the include.
[general]
persistentmembers = no

#tryinclude queues_implus.conf
"""

HTTP_CONF = """\
; implus sandbox: the HTTP server is off unless the generated include (browser VoIP,
; docs/voip.md) turns it on - on loopback, for the chat service's SIP relay only.
#tryinclude http_implus.conf
"""

BASE_CONFIGS = {
    "asterisk.conf": ASTERISK_CONF,
    "modules.conf": MODULES_CONF,
    "logger.conf": LOGGER_CONF,
    "manager.conf": MANAGER_CONF,
    "pjsip.conf": PJSIP_CONF,
    "extensions.conf": EXTENSIONS_CONF,
    "musiconhold.conf": MUSICONHOLD_CONF,
    "queues.conf": QUEUES_CONF,
    "http.conf": HTTP_CONF,
}

#: Stock files whose demo content would load beside ours (AEL/Lua dialplan, users.conf).
STOCK_FILES_TO_REMOVE = ("extensions.ael", "extensions.lua", "users.conf")


def hold_tone_sln(seconds: float = 4.0, rate: int = 8000) -> bytes:
    """A quiet two-tone chime then silence, as 16-bit signed linear mono (`.sln`)."""
    samples = []
    for i in range(int(seconds * rate)):
        t = i / rate
        if t < 0.4:
            value = 0.15 * math.sin(2 * math.pi * 440 * t)
        elif t < 0.8:
            value = 0.15 * math.sin(2 * math.pi * 660 * t)
        else:
            value = 0.0
        samples.append(int(value * 32767))
    return struct.pack(f"<{len(samples)}h", *samples)


def hosts_file(hostname: str) -> str:
    """/etc/hosts for the chroot: without the hostname line res_pjsip stalls ~5 s on DNS."""
    return f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n"

#!/usr/bin/python3
"""A stand-in desktop notification server (org.freedesktop.Notifications, the
Desktop Notifications Specification 1.2) for the end-to-end suite: it owns the name on
the session bus it is given (DBUS_SESSION_BUS_ADDRESS), records every notification as a
JSON line on stdout, and clicks one when told on stdin ("invoke <id> <action>"), as a
user clicking the notification would: ActionInvoked, then NotificationClosed (reason 2,
dismissed by the user).

Debian's python3-gi (Gio's D-Bus server); no other dependency.
"""
import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
XML = """
<node>
  <interface name="org.freedesktop.Notifications">
    <method name="GetCapabilities"><arg type="as" direction="out"/></method>
    <method name="Notify">
      <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
      <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
      <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/>
      <arg type="u" direction="out"/>
    </method>
    <method name="CloseNotification"><arg type="u" direction="in"/></method>
    <method name="GetServerInformation">
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
      <arg type="s" direction="out"/><arg type="s" direction="out"/>
    </method>
    <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
    <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
  </interface>
</node>
"""

state = {"next": 0, "conn": None}


def say(record):
    print(json.dumps(record, ensure_ascii=False), flush=True)


def on_call(conn, sender, path, iface, method, params, invocation):
    if method == "GetCapabilities":
        invocation.return_value(GLib.Variant("(as)", (["actions", "body"],)))
    elif method == "GetServerInformation":
        invocation.return_value(GLib.Variant("(ssss)", ("jsjb-e2e", "jsjb", "1", "1.2")))
    elif method == "Notify":
        app, replaces, icon, summary, body, actions, hints, timeout = params.unpack()
        state["next"] += 1
        nid = replaces or state["next"]
        say({"event": "notify", "id": nid, "app_name": app, "summary": summary, "body": body,
             "actions": actions, "sender": sender})
        invocation.return_value(GLib.Variant("(u)", (nid,)))
    elif method == "CloseNotification":
        (nid,) = params.unpack()
        emit("NotificationClosed", GLib.Variant("(uu)", (nid, 3)))
        invocation.return_value(None)
    else:
        invocation.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod", method)


def emit(signal, value):
    state["conn"].emit_signal(None, PATH, NAME, signal, value)


def on_stdin(channel, condition):
    line = channel.readline()
    if not line:
        loop.quit()
        return False
    parts = line.split()
    if len(parts) == 3 and parts[0] == "invoke":
        nid = int(parts[1])
        emit("ActionInvoked", GLib.Variant("(us)", (nid, parts[2])))
        emit("NotificationClosed", GLib.Variant("(uu)", (nid, 2)))
        say({"event": "invoked", "id": nid, "action": parts[2]})
    return True


def on_bus(conn, name):
    state["conn"] = conn
    info = Gio.DBusNodeInfo.new_for_xml(XML)
    conn.register_object(PATH, info.interfaces[0], on_call, None, None)


loop = GLib.MainLoop()
Gio.bus_own_name(
    Gio.BusType.SESSION,
    NAME,
    Gio.BusNameOwnerFlags.NONE,
    on_bus,
    lambda conn, name: say({"event": "ready"}),
    lambda conn, name: (say({"event": "lost"}), loop.quit()),
)
GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.IO_IN | GLib.IO_HUP, on_stdin)
loop.run()

"""config.get / config.reload / SIGHUP; a bad config is refused."""

import errno
import os
import signal

from twisted.internet import defer
from twisted.logger import capturedLogs, formatEvent
from zope.interface import implementer

from fluxd.admin.config_service import ConfigService
from fluxd.config import load_config
from fluxd.errors import InvalidArgument
from fluxd.interfaces import IReconfigurable
from fluxd.module import Module
from tests.unit.admin.helpers import GUEST, Call, TestCase, router_with


@implementer(IReconfigurable)
class Follower(Module):
    def __init__(self, name, refuse=None):
        super().__init__()
        self.name = name
        self.refuse = refuse
        self.seen = []

    def reconfigure(self, config):
        if self.refuse and config.get("access.allow-guest-user", False):
            raise InvalidArgument(self.refuse)
        self.seen.append(config.get("access.allow-guest-user", None))
        return defer.succeed(None)


class FakeReactor:
    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args):
        self.calls.append((f, args))


class ConfigServiceTests(TestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.mkdir(self.dir)
        self.write("access.toml", "[access]\nallow-guest-user = false\n")
        self.modules = [Follower("first"), Follower("second")]
        self.handlers = {}
        self.reactor = FakeReactor()
        self.service = ConfigService(
            load_config(self.dir), self.modules, self.reactor,
            install_signal=lambda sig, handler: self.handlers.__setitem__(sig, handler))
        self.modules.append(self.service)
        self.router = router_with(self.service)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def test_get_whole_table(self):
        call = Call(self.router, "config.get", rolemask=GUEST)
        self.assertEqual(call.payloads, [{"access": {"allow-guest-user": False}}])

    def test_reload_with_changed_file(self):
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final, (0, None))
        self.assertTrue(self.service.config.get("access.allow-guest-user"))
        self.assertEqual([m.seen for m in self.modules[:2]], [[True], [True]])
        self.assertEqual(Call(self.router, "config.get").payloads,
                         [{"access": {"allow-guest-user": True}}])

    def test_broken_file_refused_old_kept(self):
        self.write("access.toml", "[access\nallow-guest-user = true\n")
        with capturedLogs() as events:
            call = Call(self.router, "config.reload")
        self.assertEqual(call.final[0], errno.EINVAL)
        self.assertIn("access.toml:1:", call.final[1])
        self.assertFalse(self.service.config.get("access.allow-guest-user"))
        self.assertEqual([m.seen for m in self.modules[:2]], [[], []])
        self.assertTrue(any("keeping the old config" in formatEvent(e)
                            for e in events))

    def test_invalid_value_refused(self):
        self.write("access.toml", "[access]\nallow-guest-user = 'yes'\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final[0], errno.EINVAL)
        self.assertIn("allow-guest-user", call.final[1])

    def test_module_refusal_rolls_back(self):
        self.modules[1].refuse = "guests not supported here"
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        call = Call(self.router, "config.reload")
        self.assertEqual(call.final,
                         (errno.EINVAL, "second: guests not supported here"))
        self.assertEqual(self.modules[0].seen, [True, False])
        self.assertFalse(self.service.config.get("access.allow-guest-user"))

    def test_reload_needs_owner(self):
        call = Call(self.router, "config.reload", rolemask=GUEST)
        self.assertEqual(call.final[0], errno.EPERM)

    def test_sighup_reloads_in_the_reactor_thread(self):
        self.assertIn(signal.SIGHUP, self.handlers)
        self.write("access.toml", "[access]\nallow-guest-user = true\n")
        self.handlers[signal.SIGHUP](signal.SIGHUP, None)
        self.assertFalse(self.service.config.get("access.allow-guest-user"))
        (f, args), = self.reactor.calls
        f(*args)
        self.assertTrue(self.service.config.get("access.allow-guest-user"))
        self.assertEqual(self.service.reloads, 1)

    def test_sighup_with_broken_file_logs_one_line(self):
        self.write("access.toml", "garbage = = 1\n")
        with capturedLogs() as events:
            self.successResultOf(self.service.reload_logged("SIGHUP"))
        errors = [formatEvent(e) for e in events if e["log_level"].name == "error"]
        self.assertEqual(len(errors), 1)
        self.assertIn("config reload failed, keeping the old config:", errors[0])

    def test_watchers(self):
        seen = []
        self.service.watch(seen.append)
        self.successResultOf(self.service.reload())
        self.assertEqual(len(seen), 1)

    def test_stop_restores_sighup(self):
        self.service.stopService()
        self.assertEqual(self.handlers[signal.SIGHUP], signal.SIG_DFL)

    def test_no_config_path_reloads_defaults(self):
        service = ConfigService(load_config(None))
        self.assertEqual(self.successResultOf(service.reload()).as_dict(), {})

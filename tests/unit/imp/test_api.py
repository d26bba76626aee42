"""flux_imp.api: what the exec service passes to the IMP."""

import json

from twisted.trial.unittest import SynchronousTestCase

from flux_imp import api


class ApiTests(SynchronousTestCase):
    def test_exec(self):
        self.assertEqual(api.exec_argv("/p/flux-imp", "/s/flux-shell", 123),
                         ["/p/flux-imp", "exec", "/s/flux-shell", "123"])
        self.assertRaises(ValueError, api.exec_argv, "/p/flux-imp", "/s")
        self.assertEqual(json.loads(api.exec_input("H.P.S")), {"J": "H.P.S"})
        self.assertEqual(json.loads(api.exec_input("H.P.S", {"a": 1})),
                         {"J": "H.P.S", "options": {"a": 1}})

    def test_kill_and_run(self):
        self.assertEqual(api.kill_argv("/i", 15, 4242),
                         ["/i", "kill", "15", "4242"])
        self.assertEqual(api.run_argv("/i", "prolog"), ["/i", "run", "prolog"])

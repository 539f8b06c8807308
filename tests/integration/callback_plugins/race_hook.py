# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests only: run a command right after a named task succeeds, before the next task starts.

The linear strategy handles a task's results (and sends this callback) before it queues the next task, so the
command lands exactly between two tasks: a deterministic race, with no sleep. Configured by the environment:
AML_TEST_HOOK_AFTER (the task's name) and AML_TEST_HOOK_COMMAND (a shell command, run once).
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: race_hook
type: aggregate
short_description: Tests only - run a command between two tasks
description: Runs E(AML_TEST_HOOK_COMMAND) once, after the task named E(AML_TEST_HOOK_AFTER) succeeds.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import os
import subprocess

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "race_hook"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.done = False

    def v2_runner_on_ok(self, result):
        if self.done or result.task_name != os.environ.get("AML_TEST_HOOK_AFTER"):
            return
        self.done = True
        subprocess.run(["bash", "-c", os.environ["AML_TEST_HOOK_COMMAND"]], check=True)

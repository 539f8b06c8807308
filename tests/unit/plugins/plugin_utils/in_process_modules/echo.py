# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module for test_in_process.py: returns an environment variable and the working directory it ran with."""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"variable": {"type": "str", "required": True},
                                          "token": {"type": "str", "no_log": True},
                                          "chdir": {"type": "path"}},
                           supports_check_mode=True)
    if module.params["chdir"]:
        os.chdir(module.params["chdir"])
    os.environ["SET_BY_THE_MODULE"] = "1"
    module.exit_json(changed=not module.check_mode, value=os.environ.get(module.params["variable"]),
                     said="token " + (module.params["token"] or ""))


if __name__ == "__main__":
    main()

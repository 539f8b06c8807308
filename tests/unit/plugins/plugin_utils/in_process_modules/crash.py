# -*- coding: utf-8 -*-
# Copyright (c) aml.kserve contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module for test_in_process.py that fails with an exception of its own."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    AnsibleModule(argument_spec={})
    raise RuntimeError("the module broke")


if __name__ == "__main__":
    main()

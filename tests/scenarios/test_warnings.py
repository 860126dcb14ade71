"""A run whose module warns shows the warning once, and no deprecation notice with it.

amazon.aws's ``AnsibleAWSModule.warn`` passes the warnings it kept to ``exit_json`` as ``warnings`` on
ansible-core 2.19 and later, which ansible-core deprecates on every such run; the modules warn through
``_aws.warn`` instead.
"""

from __future__ import annotations

PLAY = """
- name: Read what HERD serves, with credentials that may not read the upgrade parameters
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read buildInfo and the upgrade request
      mdl.herd.herd_buildinfo_check:
        mdl_instance_name: "{{ mdl_instance_name }}"
        mdl_environment: "{{ mdl_environment }}"
        credentials_from_ssm: true
        ca_path: "{{ herd_upgrade_ca_path }}"
        report_upgrade_request: true
      register: served

    - name: Show the request, null when it could not be read
      ansible.builtin.debug:
        msg: "upgrade_request is null: {{ served.upgrade_request is none }}, build_number={{ served.build_number }}"
"""


def test_a_warning_run_prints_the_warning_and_no_deprecation(make_stack, playbook, tmp_path):
    entry = make_stack(faults={"deny": ["ssm:GetParameters"]})
    play = tmp_path / "warns.yml"
    play.write_text(PLAY, encoding="utf-8")
    run = playbook(entry, name=str(play))
    assert run.finish() == 0, run.output
    assert "upgrade_request is null: True, build_number=0.170.0" in run.output, run.output
    assert "The credentials may not read the upgrade parameters of stack" in run.output, run.output
    assert run.output.count("[WARNING]: The credentials may not read") == 1, run.output
    # No deprecation of ansible-core's or of this collection's; a Python library's own warning, printed when
    # ansible-core imports it, is not one (cryptography 51 deprecates DSA, which ansible-core 2.19's ssh agent imports).
    deprecations = [line for line in run.output.splitlines()
                    if "deprecat" in line.lower() and "CryptographyDeprecationWarning" not in line]
    assert deprecations == [], run.output

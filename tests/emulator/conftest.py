"""Microsoft's own client tests are run by ``azure_sdk_client_tests.py`` in a process of their
own, against the emulator; they are not collected into this session."""

collect_ignore = ["azure_sdk_tests"]

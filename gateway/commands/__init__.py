"""The CLI's subcommands: each module has `add_parser(subparsers)` and `run(args, settings)`."""


class CommandError(Exception):
    """A command failed in a way the user can act on; the message says how."""

"""The one exception type for mistakes a user can make with `paint-shards` (bad path, bad file, bad option)."""


class UserError(Exception):
    """A problem the user can fix; the message is one line naming the bad thing and the fix.

    `exit_code` is what `paint-shards` exits with (2 for bad input, as argparse does).
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code

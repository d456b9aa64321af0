"""Command families. Importing this package registers every command in the table."""
from . import registry  # noqa: F401
from . import connection  # noqa: F401
from . import strings  # noqa: F401
from . import keys  # noqa: F401
from . import server  # noqa: F401
from . import config_cmd  # noqa: F401
from . import client_cmds  # noqa: F401
from . import command_cmd  # noqa: F401
from . import hashes  # noqa: F401
from . import lists  # noqa: F401
from . import sets  # noqa: F401
from . import zsets  # noqa: F401
from . import bitmaps  # noqa: F401
from . import hyperloglog  # noqa: F401
from . import geo  # noqa: F401
from . import sort  # noqa: F401
from . import zsets_blocking  # noqa: F401

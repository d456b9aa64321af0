"""Every error reply valkeyd sends, with Redis 7.2.4's exact text.

Handlers raise :class:`CommandError` (or return an :class:`ErrorReply` inside an aggregate);
the dispatcher turns it into ``-<text>\\r\\n``. Clients match on these strings, so they are
kept here, in one place, and never spelled inline elsewhere.
"""


class ErrorReply(Exception):
    """An error reply. ``str(e)`` is the text after the leading '-' (e.g. ``ERR syntax error``)."""

    __slots__ = ("msg",)

    def __init__(self, msg: str):
        self.msg = msg

    def __str__(self):
        return self.msg

    def __repr__(self):
        return f"ErrorReply({self.msg!r})"

    @property
    def code(self) -> str:
        """The error code Redis counts in INFO errorstats (first word)."""
        return self.msg.split(" ", 1)[0]


CommandError = ErrorReply


class ProtocolError(Exception):
    """The client broke the protocol: reply with ``msg`` and close the connection."""


# -- generic --------------------------------------------------------------------------------
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
INCR_OVERFLOW = "ERR increment or decrement would overflow"
INCRFLOAT_NAN = "ERR increment would produce NaN or Infinity"
DECR_OVERFLOW = "ERR decrement would overflow"
LCS_NOT_STRINGS = "ERR The specified keys must contain string values"
LCS_LEN_AND_IDX = "ERR If you want both the length and indexes, please just use IDX."
LCS_TOO_LONG = "ERR String too long for LCS"
LCS_MEMORY = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
# bitmaps (SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD)
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BITPOS_BIT = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY = "ERR BITOP NOT must be called with a single source key."
BITFIELD_TYPE = ("ERR Invalid bitfield type. Use something like i16 u8. "
                 "Note that u64 is not supported but i64 is.")
BITFIELD_OVERFLOW = "ERR Invalid OVERFLOW type specified"
BITFIELD_RO_GET = "ERR BITFIELD_RO only supports the GET subcommand"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NO_SUCH_KEY = "ERR no such key"
OUT_OF_RANGE = "ERR index out of range"
INVALID_EXPIRE = "ERR invalid expire time in '%s' command"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
INT_OUT_OF_RANGE = "ERR value is out of range, value must between -2147483648 and 2147483647"
INVALID_DB_INDEX = "ERR invalid DB index"
SAME_OBJECT = "ERR source and destination objects are the same"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
OFFSET_OUT_OF_RANGE = "ERR offset is out of range"
NOT_POSITIVE = "ERR value is out of range, must be positive"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
INVALID_CURSOR = "ERR invalid cursor"
NAN_RESULT = "ERR resulting score is not a number (NaN)"
# sets (t_set.c)
NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"
LONG_RANGE = "ERR value is out of range, value must between %d and %d"

# -- dispatch ---------------------------------------------------------------------------------
UNKNOWN_COMMAND = "ERR unknown command '%s', with args beginning with: %s"
UNKNOWN_SUBCOMMAND = "ERR unknown subcommand '%s'. Try %s HELP."
WRONG_ARITY = "ERR wrong number of arguments for '%s' command"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_CONFIGURED = (
    "ERR AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?"
)
PUBSUB_CONTEXT = (
    "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context"
)
MAX_CLIENTS = "ERR max number of clients reached"
NOPROTO = "NOPROTO unsupported protocol version"
NOT_IN_MULTI = "ERR Command not allowed inside a transaction"
DEBUG_DISABLED = (
    "ERR %s command not allowed. If the %s option is set to \"local\", you can "
    "run it from a local connection, otherwise you need to set this option in the configuration "
    "file, and then restart the server."
)
LOADING = "LOADING Redis is loading the dataset in memory"
REPLICA_KEYSPACE = "ERR Replica can't interact with the keyspace"
BUSY = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SCRIPT KILL or SHUTDOWN NOSAVE."
OOM = "OOM command not allowed when used memory > 'maxmemory'."
LMDB_FULL = ("OOM command not allowed when the lmdb environment is full "
             "(used %d of 'lmdb-map-size' %d bytes)")
READONLY = "READONLY You can't write against a read only replica."
MISCONF = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist "
    "to disk. Commands that may modify the data set are disabled, because this instance is "
    "configured to report errors during writes if RDB snapshotting fails "
    "(stop-writes-on-bgsave-error option). Please check the Redis logs for details about the "
    "RDB error."
)

# -- protocol (the connection is closed after these) -----------------------------------------
PROTO_INVALID_MULTIBULK = "ERR Protocol error: invalid multibulk length"
PROTO_INVALID_BULK = "ERR Protocol error: invalid bulk length"
PROTO_EXPECTED_DOLLAR = "ERR Protocol error: expected '$', got '%s'"
PROTO_BIG_INLINE = "ERR Protocol error: too big inline request"
PROTO_BIG_MBULK = "ERR Protocol error: too big mbulk count string"
PROTO_BIG_BULK = "ERR Protocol error: too big bulk count string"
PROTO_UNBALANCED = "ERR Protocol error: unbalanced quotes in request"
PROTO_UNAUTH_MULTIBULK = "ERR Protocol error: unauthenticated multibulk length"
PROTO_UNAUTH_BULK = "ERR Protocol error: unauthenticated bulk length"

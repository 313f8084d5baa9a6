# The words of config errors, loaded only when config.py is wrong: a value described
# without being quoted, and config.py missing or failing to run. The checks themselves are
# mpaws.settings_aws's, mpaws.settings_board's and mpaws.settings_cert's.
from mpaws import errors


def describe(value):
    """What a value is like -- its length and the kinds of its characters -- without
    quoting it: a secret put under the wrong key (access key and secret swapped) must not
    reach a message, a log or the screen."""
    if not isinstance(value, str):
        return "a %s" % type(value).__name__
    kinds = []
    other = []  # punctuation bytes, each once
    # Its UTF-8 bytes are scanned (small ints): a loop over the str would intern each of its
    # characters for good -- a secret's too. Bytes of non-ASCII characters are >= 0x80.
    for b in value.encode():
        if 65 <= b <= 90:
            kind = "upper-case letters"
        elif 97 <= b <= 122:
            kind = "lower-case letters"
        elif 48 <= b <= 57:
            kind = "digits"
        elif b == 32:
            kind = "spaces"
        elif b < 32 or b == 127:
            kind = "control characters"
        elif b > 127:
            kind = "non-ASCII characters"
        else:
            if b not in other:
                other.append(b)
            continue
        if kind not in kinds:
            kinds.append(kind)
    if other:
        kinds.append("'" + b"', '".join([bytes((b,)) for b in other]).decode() + "'")
    return "%d characters (%s)" % (len(value), ", ".join(kinds) or "none")


def broken(e):
    """A ConfigError for config.py missing, or failing to run: the file, the line and the
    error, never the line's text (it may hold a secret)."""
    import sys

    if isinstance(e, ImportError) and "config" in str(e):
        return errors.ConfigError("no config.py: copy config_template.py to config.py and fill in your values "
                                  "(on a board: `make provision`)")
    line = getattr(e, "lineno", None)  # CPython's SyntaxError
    if line is None:
        line = _line_in_config(e)
    sys.modules.pop("config", None)  # a later load reads the fixed file
    # The error's own text is left out: a NameError quotes the unquoted value (a secret?).
    hint = ("not valid Python (a missing quote or bracket?)" if isinstance(e, SyntaxError) else
            "a value without quotes (text needs quotes)" if isinstance(e, NameError) else "it does not run")
    return errors.ConfigError("config.py%s: %s, %s: fix it (compare with config_template.py; on a board: "
                              "`make provision`)" % ("" if line is None else ", line %d" % line, type(e).__name__,
                                                     hint))


def _line_in_config(e):
    # The last line of config.py in the traceback: from CPython's frames, or from the text
    # MicroPython prints (it keeps no frame objects).
    tb = getattr(e, "__traceback__", None)
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith("config.py"):
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is not None:
        return line
    try:
        import io
        import sys

        out = io.StringIO()
        sys.print_exception(e, out)
        text = out.getvalue()
    except (ImportError, AttributeError):
        return None
    i = text.rfind('config.py", line ')
    if i < 0:
        return None
    digits = text[i + 17 :].split(",")[0].split("\n")[0]
    return int(digits) if digits.isdigit() else None

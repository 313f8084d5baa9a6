# The rules for a Lambda function's name, qualifier and ARN (awslambda.check_function):
# applied when config.py is loaded and when invoke() gets a name it has not checked yet;
# this module is loaded for that check and forgotten after it.
from mpaws import sigv4

_NAME_CHARS = sigv4.LETTERS + sigv4.DIGITS + "-_"  # of a function's name (a qualifier may have '$' too)


def check(function):
    """Raises ValueError unless function is a name (1-64 of A-Z a-z 0-9 - _), name:qualifier,
    or a function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])."""
    if not isinstance(function, str) or not function:
        raise ValueError("function name must be a non-empty string")
    parts = function.split(":")
    if parts[0] == "arn":
        if len(parts) not in (7, 8) or not parts[1].startswith("aws") or parts[2] != "lambda" or parts[5] != "function":
            raise ValueError("function ARN: expected arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]")
        if len(parts[4]) != 12 or not sigv4.made_of(parts[4], sigv4.DIGITS):
            raise ValueError("function ARN: the account id must be 12 digits")
        name, qualifier = parts[6], (parts[7] if len(parts) == 8 else None)
    elif len(parts) <= 2:
        name, qualifier = parts[0], (parts[1] if len(parts) == 2 else None)
    else:
        raise ValueError("function: expected NAME, NAME:QUALIFIER or a function ARN")
    if not 1 <= len(name) <= 64 or not sigv4.made_of(name, _NAME_CHARS):
        raise ValueError("function name: 1 to 64 letters, digits, '-' or '_'")
    if qualifier is not None and (not qualifier or len(qualifier) > 128
                                  or not sigv4.made_of(qualifier, _NAME_CHARS + "$")):
        raise ValueError("function qualifier: a version number, an alias or $LATEST")

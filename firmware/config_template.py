# mpaws device configuration.
#
# Copy this file to config.py (git-ignored: it holds your secret key) and fill it in.
# `make provision PORT=...` copies config.py to the board; `tools/cloud.py deploy` can
# write it for you with a least-privilege key. Every key is checked when the device
# starts: a mistake stops it with a message that names the key.

# -- AWS credentials: an IAM user whose only permission is lambda:InvokeFunction --------
CONFIG_AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
CONFIG_AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONFIG_AWS_SESSION_TOKEN = None  # only for temporary credentials

# -- What to call ---------------------------------------------------------------------
CONFIG_AWS_REGION = "ap-southeast-1"
# A name, name:qualifier (alias or version), or the function's full ARN.
CONFIG_AWS_LAMBDA_FUNCTION = "FT900LambdaToSNS"
CONFIG_AWS_SNS_TOPIC_ARN = "arn:aws:sns:ap-southeast-1:123456789012:FT900SNStopic"
# Default: lambda.<region>.amazonaws.com. May carry :port.
CONFIG_AWS_HOST = None

# -- TLS -------------------------------------------------------------------------------
# Path of a CA certificate (DER or PEM) or a folder of them. Default: the bundled Amazon
# roots in certs/.
CONFIG_TLS_CA = None
# Never set this to False outside a test bench: anyone on the network could read and
# change the traffic. A warning is printed on every connection when it is off.
CONFIG_TLS_VERIFY = True
CONFIG_TIMEOUT = 10  # seconds to wait for AWS

# -- The board only (not needed on a computer) ------------------------------------------
CONFIG_WIFI_SSID = "your-wifi"
CONFIG_WIFI_PASSWORD = "your-wifi-password"
CONFIG_NTP_HOSTS = ["pool.ntp.org", "time.google.com"]

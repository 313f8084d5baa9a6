# mpaws device configuration.
#
# Copy this file to config.py (git-ignored: it holds your secret key) and fill it in.
# `make provision PORT=...` copies config.py to the board; `tools/cloud.py deploy` can
# write it for you with a least-privilege key. Every key is checked when the device
# starts: a mistake stops it with a message that names the key.

# -- AWS credentials: an IAM user whose only permission is lambda:InvokeFunction --------
# (or, for direct SNS, sns:Publish on the topic: see CONFIG_AWS_LAMBDA_FUNCTION)
CONFIG_AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
CONFIG_AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
CONFIG_AWS_SESSION_TOKEN = None  # only for temporary credentials

# -- Or, instead of the keys above (set those to None): a device certificate -----------
# Nothing long-lived on the flash: the board proves who it is with an X.509 certificate
# (AWS IoT) and receives keys that expire within the hour (`tools/cloud.py deploy
# --cert-auth` makes the thing, certificate, policy, role alias and role, and writes these
# keys and the two files). Give all five, or none.
CONFIG_AWS_CREDENTIALS_ENDPOINT = None  # "xxxxxxxxxxxx.credentials.iot.<region>.amazonaws.com"
CONFIG_AWS_ROLE_ALIAS = None  # the role alias whose role may invoke the function
CONFIG_AWS_THING_NAME = None  # the thing the certificate is attached to
CONFIG_TLS_CERT = None  # path of the device certificate on the board (DER or PEM)
CONFIG_TLS_KEY = None  # path of its private key (DER or PEM, unencrypted)

# -- What to call ---------------------------------------------------------------------
CONFIG_AWS_REGION = "ap-southeast-1"
# A name, name:qualifier (alias or version), or the function's full ARN. None (written
# out): no function, the device publishes to the topic itself with a key allowed only
# sns:Publish on it (`tools/cloud.py deploy --direct-sns`); SNS's rules are then checked
# on the device: a subject of 1 to 100 printable ASCII characters, not starting with a
# space, and a body of at most 256 KB.
CONFIG_AWS_LAMBDA_FUNCTION = "FT900LambdaToSNS"
CONFIG_AWS_SNS_TOPIC_ARN = "arn:aws:sns:ap-southeast-1:123456789012:FT900SNStopic"
# Default: lambda.<region>.amazonaws.com (direct SNS: sns.<region>.amazonaws.com). May
# carry :port.
CONFIG_AWS_HOST = None

# API Gateway instead (`tools/cloud.py deploy --api [--api-key]`): the stage's URL; notify()
# then POSTs the same JSON to <URL>/notify, and the function behind the route publishes it.
# With CONFIG_AWS_API_KEY (the REST API's key: x-api-key) the device needs no AWS key at all
# (set CONFIG_AWS_ACCESS_KEY and CONFIG_AWS_SECRET_KEY to None); without it, requests are
# signed for execute-api with the key above (IAM authorization).
CONFIG_AWS_API_URL = None  # e.g. "https://abc123defg.execute-api.ap-southeast-1.amazonaws.com/prod"
CONFIG_AWS_API_KEY = None

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
CONFIG_NTP_HOSTS = ["pool.ntp.org", "time.google.com", "time.cloudflare.com"]  # tried in turn
CONFIG_WIFI_TIMEOUT_S = 20  # seconds to wait for the access point; then retried with backoff
CONFIG_NTP_RESYNC_H = 6  # hours between clock syncs (the ESP32's clock drifts a few s a day)

# -- The device application (main.py) -------------------------------------------------
# Every notification goes through a small file on flash first and is removed only once
# AWS accepted it, so nothing is lost while the WiFi is down or after a power cut.
CONFIG_DEVICE_ID = None  # starts every message id; default: the chip's unique id (or "host")
CONFIG_OUTBOX_PATH = "outbox.txt"  # relative: the current directory (/ on the board)
CONFIG_OUTBOX_LIMIT = 50  # messages kept at most; when full, the oldest is dropped (and logged)
CONFIG_OUTBOX_BYTES = 32768  # bytes of messages kept at most (the oldest dropped to make room)
# Status LED (GPIO 2 on most dev boards; None for none): fast blink (0.5 s) while the WiFi
# is down, slow blink (2 s) while messages wait in the outbox, on while sending, else off.
CONFIG_LED_PIN = 2
CONFIG_LED_ACTIVE_LOW = False
# The board restarts when the main loop stops for this long. It cannot be stopped once
# started, not even by a soft reset: after a Ctrl-C in the running loop the board
# restarts this many seconds later.
CONFIG_WATCHDOG_S = 120
# At every start but a deep-sleep wake-up, main.py waits this long first ("mpaws:
# starting in 3 s"): a Ctrl-C then gives the REPL with no watchdog running. `make deploy`,
# `provision` and `notify` reset the board and stop it there. 0: no wait, and they cannot.
CONFIG_START_DELAY_S = 3

# Button: GPIO 0 is the BOOT button of ESP32 dev boards (to ground, internal pull-up).
CONFIG_BUTTON_PIN = 0  # None: no button
CONFIG_BUTTON_ACTIVE_LOW = True  # pressed reads 0 (wired to ground)
CONFIG_BUTTON_DEBOUNCE_MS = 50  # the contact must be still this long (50 or more)
CONFIG_BUTTON_LONG_PRESS_MS = 1500  # held this long: the long-press message
CONFIG_BUTTON_MIN_INTERVAL_S = 10  # presses closer together than this are ignored
CONFIG_BUTTON_SUBJECT = "Button"
CONFIG_BUTTON_SHORT_MESSAGE = "The button was pressed."
CONFIG_BUTTON_LONG_MESSAGE = "The button was held down."

# Sensor: "adc" (a voltage on an ADC1 pin, GPIO 32-39), "ds18x20" (1-Wire, 4.7k pull-up
# to 3.3 V) or "dht22"; None for none. A notification is sent when the reading crosses
# the threshold; it must come back past THRESHOLD -/+ HYSTERESIS before the next one.
CONFIG_SENSOR = None
CONFIG_SENSOR_PIN = 4
CONFIG_SENSOR_PERIOD_S = 60  # seconds between readings (2 or more for the DHT22)
CONFIG_SENSOR_THRESHOLD = 30.0
CONFIG_SENSOR_HYSTERESIS = 1.0
CONFIG_SENSOR_ALERT_WHEN = "above"  # or "below"
CONFIG_SENSOR_SUBJECT = "Temperature"
CONFIG_SENSOR_UNIT = None  # None: "V" for "adc", "C" for the temperature sensors
CONFIG_SENSOR_SCALE = 1.0  # "adc" only: value = volts * SCALE + OFFSET
CONFIG_SENSOR_OFFSET = 0.0

# Deep sleep, for battery boards: the board wakes on the button (ext0: it must be an RTC
# GPIO) or every CONFIG_SLEEP_S seconds (reads the sensor), sends, and sleeps again.
CONFIG_DEEP_SLEEP = False
CONFIG_SLEEP_S = 600

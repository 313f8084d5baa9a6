# AWS IoT Core HTTPS publish: POST /topics/{topic}?qos=1 to the account's data endpoint
# (xxxxxxxx-ats.iot.REGION.amazonaws.com), signed for service 'iotdata'.
from mpaws import sigv4


def publish(client, topic, payload, qos=1):
    """Publishes payload (bytes, str or a list/tuple of pieces) to an MQTT topic through an
    mpaws.client.Client for service 'iotdata'. Returns the reply body (bytes)."""
    if not isinstance(topic, str) or not topic or len(topic) > 256 or topic.startswith("$") and not \
            topic.startswith("$aws/"):
        raise ValueError("topic: 1 to 256 characters, not starting with '$' (except $aws/...)")
    if qos not in (0, 1):
        raise ValueError("qos must be 0 or 1")
    response = client.request("POST", "/topics/" + sigv4.uri_encode(topic), (("qos", str(qos)),),
                              (("content-type", "application/octet-stream"),), payload)
    return bytes(response.body)

"""AWS's error replies, as the stand-in's endpoints write them: JSON with an x-amzn-ErrorType
header for the JSON services (Lambda), XML for the query-protocol ones (SNS, IAM, STS).
local_aws.py and local_credentials.py both answer with these, so neither imports the other."""
import json
import uuid

XML_SERVICES = ("sns", "iam", "sts", "sqs", "ec2")  # query protocol: errors in XML


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = list(headers)
        self.body = body


def json_error(status, error_type, message, **fields):
    body = dict(fields, message=message)
    return Reply(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", error_type)],
                 json.dumps(body).encode())


def xml_error(status, code, message):
    body = ('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
            "<Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>"
            % (code, message, uuid.uuid4()))
    return Reply(status, [("Content-Type", "text/xml")], body.encode())


def service_error(service, status, xml_code, json_type, message):
    """The error reply of `service`: XML with xml_code for a query-protocol service, else
    JSON with json_type (AWS names the same error differently in the two)."""
    if service in XML_SERVICES:
        return xml_error(status, xml_code, message)
    return json_error(status, json_type, message)

"""Certificate auth for tools/cloud.py (deploy --cert-auth, and rotate-key, status, destroy of
such a deployment): the device is an AWS IoT thing with an X.509 certificate, and gets
temporary credentials from the AWS IoT credentials provider. No IAM user, no access key.

What deploy --cert-auth makes (names from cloud/policies.py, N = --name):
- IAM role N-device, trusted by credentials.iot.amazonaws.com only, allowed exactly what the
  device user's key may do in the other mode (lambda:InvokeFunction on the function, or
  sns:Publish on the topic with --direct-sns);
- the role alias N-device for it (credentials live 1 hour);
- the AWS IoT policy N-device-credentials: iot:AssumeRoleWithCertificate on that alias only;
- the thing N-device, and a certificate (create_keys_and_certificate) attached to the thing
  and the policy. The certificate and its private key are written next to config.py
  (N-device.cert.pem, N-device.key.pem; mode 600), and config.py gets the five certificate
  keys (the endpoint from describe_endpoint(iot:CredentialProvider)) and no key pair. The
  private key is printed nowhere; `make provision` copies the files to the board.

rotate-key makes a new certificate (the old one stays ACTIVE for the device that still
has it) and, on a later run once the new one was used (the device role's RoleLastUsed is
after the new certificate's creation; --force: at once), deactivates and deletes the old.
A lost board: `aws iot update-certificate --certificate-id ID --new-status REVOKED` (or
rotate-key --force, which leaves only a new certificate the lost board never had).
"""
import json
import os

import policies

CREDENTIALS_SECONDS = 3600


def file_names(names, config_path):
    """(certificate, key) paths next to config.py; the key's name is what config.py holds
    (relative: the board's current directory, / , where `make provision` copies them)."""
    folder = os.path.dirname(os.path.abspath(config_path))
    return (os.path.join(folder, names.thing + ".cert.pem"), os.path.join(folder, names.thing + ".key.pem"))


def has_thing(aws):
    return aws.missing(aws.iot.describe_thing, ("ResourceNotFoundException",), thingName=aws.names.thing) is not None


def _normal_pem(text):
    return "".join((text or "").split())


class CertState:
    """What exists of the certificate-auth resources (read-only calls only)."""

    def __init__(self, aws, config_path, config):
        n, iot, iam = aws.names, aws.iot, aws.iam
        self.thing = aws.missing(iot.describe_thing, ("ResourceNotFoundException",), thingName=n.thing)
        self.certificates = []  # certificateDescription dicts of the certificates attached to the thing
        if self.thing is not None:
            for arn in iot.list_thing_principals(thingName=n.thing)["principals"]:
                found = aws.missing(iot.describe_certificate, ("ResourceNotFoundException",),
                                    certificateId=arn.rsplit("/", 1)[-1])
                if found is not None:
                    self.certificates.append(found["certificateDescription"])
        role = aws.missing(iam.get_role, ("NoSuchEntity",), RoleName=n.device_role)
        self.role = role and role["Role"]
        self.role_policy = None
        if self.role is not None:
            policy = aws.missing(iam.get_role_policy, ("NoSuchEntity",), RoleName=n.device_role,
                                 PolicyName=n.user_policy)
            self.role_policy = policy and policy["PolicyDocument"]
        alias = aws.missing(iot.describe_role_alias, ("ResourceNotFoundException",), roleAlias=n.role_alias)
        self.role_alias = alias and alias["roleAliasDescription"]
        policy = aws.missing(iot.get_policy, ("ResourceNotFoundException",), policyName=n.iot_policy)
        self.iot_policy = policy and json.loads(policy["policyDocument"])
        cert_path = file_names(n, config_path)[0]
        self.local_pem = None
        if config.get("CONFIG_AWS_THING_NAME") == n.thing and os.path.exists(cert_path):
            with open(cert_path, encoding="ascii") as f:
                self.local_pem = f.read()

    def current(self):
        """The certificate config.py's files hold, if it is attached to the thing."""
        for c in self.certificates:
            if self.local_pem and _normal_pem(c.get("certificatePem")) == _normal_pem(self.local_pem):
                return c
        return None


def device_settings(aws, names, access):
    """config.py's keys for certificate auth (and no key pair)."""
    endpoint = aws.iot.describe_endpoint(endpointType="iot:CredentialProvider")["endpointAddress"]
    return {
        "CONFIG_AWS_ACCESS_KEY": None, "CONFIG_AWS_SECRET_KEY": None,
        "CONFIG_AWS_CREDENTIALS_ENDPOINT": endpoint, "CONFIG_AWS_ROLE_ALIAS": names.role_alias,
        "CONFIG_AWS_THING_NAME": names.thing, "CONFIG_TLS_CERT": names.thing + ".cert.pem",
        "CONFIG_TLS_KEY": names.thing + ".key.pem",
    }


def write_config(cloud, config_path, values):
    """cloud.write_config, checked from config.py's folder: the certificate's file names in
    it are relative, as the board's current directory (/) holds them."""
    here = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(config_path)))
    try:
        return cloud.write_config(os.path.abspath(os.path.basename(config_path)), values)
    finally:
        os.chdir(here)


def _write_private(path, text, mode):
    temporary = path + ".tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def new_certificate(aws, plan, config_path, why, access, cloud):
    """A new ACTIVE certificate attached to the thing and the IoT policy, its files written
    next to config.py and config.py pointed at them."""
    n = aws.names

    def create():
        made = aws.iot.create_keys_and_certificate(setAsActive=True)
        cert_path, key_path = file_names(n, config_path)
        try:
            _write_private(key_path, made["keyPair"]["PrivateKey"], 0o600)
            _write_private(cert_path, made["certificatePem"], 0o600)
            settings = dict(cloud.device_settings(n, access), **device_settings(aws, n, access))
            problem = write_config(cloud, config_path, settings)
        except OSError as e:  # the key would be lost: the certificate goes again
            aws.iot.update_certificate(certificateId=made["certificateId"], newStatus="INACTIVE")
            aws.iot.delete_certificate(certificateId=made["certificateId"])
            raise cloud.CloudError("could not write next to %s (%s), so the new certificate was deleted again: fix "
                                   "that and run the command again" % (config_path, e.strerror or e)) from None
        aws.iot.attach_policy(policyName=n.iot_policy, target=made["certificateArn"])
        aws.iot.attach_thing_principal(thingName=n.thing, principal=made["certificateArn"])
        plan.out.write("    certificate %s… and its private key written to %s, %s (mode 600)\n"
                       % (made["certificateId"][:16], cert_path, key_path))
        if problem:
            plan.note("config.py does not validate yet: %s" % problem)
        return made["certificateId"]

    return plan.change("create a certificate for thing %s and write it next to %s (%s)" % (n.thing, config_path,
                                                                                           why), create)


def deploy(aws, args, plan, state, access, cloud):
    """The device half of deploy --cert-auth (the topic, function and its role are deploy's)."""
    n = aws.names
    cert = CertState(aws, args.config, state.config)
    tags = [{"Key": policies.STACK_TAG, "Value": n.name}]
    trust = policies.credentials_provider_trust_policy()
    if cert.role is None:
        plan.change("create IAM role %s for the device (trusted by the AWS IoT credentials provider)"
                    % n.device_role, aws.iam.create_role, RoleName=n.device_role,
                    AssumeRolePolicyDocument=json.dumps(trust), Tags=tags,
                    Description="mpaws device %s: what its certificate's temporary credentials may do" % n.thing)
    elif not policies.same(cert.role["AssumeRolePolicyDocument"], trust):
        plan.change("reset the trust policy of role %s" % n.device_role, aws.iam.update_assume_role_policy,
                    RoleName=n.device_role, PolicyDocument=json.dumps(trust))
    wanted = policies.device_policy(n, access)
    if not policies.same(cert.role_policy, wanted):
        grant = "lambda:InvokeFunction on the function" if access == policies.INVOKE else "sns:Publish on the topic"
        plan.change("%s the device role's only permission: %s" % ("set" if cert.role_policy is None else
                                                                  "change to", grant),
                    aws.iam.put_role_policy, RoleName=n.device_role, PolicyName=n.user_policy,
                    PolicyDocument=json.dumps(wanted))
    if cert.role_alias is None:
        plan.change("create role alias %s for role %s (credentials live %d s)" % (n.role_alias, n.device_role,
                                                                                CREDENTIALS_SECONDS),
                    aws.iot.create_role_alias, roleAlias=n.role_alias, roleArn=n.device_role_arn,
                    credentialDurationSeconds=CREDENTIALS_SECONDS)
    elif cert.role_alias.get("roleArn") != n.device_role_arn:
        plan.change("point role alias %s at role %s" % (n.role_alias, n.device_role), aws.iot.update_role_alias,
                    roleAlias=n.role_alias, roleArn=n.device_role_arn)
    wanted = policies.iot_credentials_policy(n)
    if cert.iot_policy is None:
        plan.change("create IoT policy %s: iot:AssumeRoleWithCertificate on the role alias only" % n.iot_policy,
                    aws.iot.create_policy, policyName=n.iot_policy, policyDocument=json.dumps(wanted))
    elif not policies.same(cert.iot_policy, wanted):
        plan.change("correct IoT policy %s" % n.iot_policy, aws.iot.create_policy_version, policyName=n.iot_policy,
                    policyDocument=json.dumps(wanted), setAsDefault=True)
    if cert.thing is None:
        plan.change("create IoT thing %s" % n.thing, aws.iot.create_thing, thingName=n.thing)
    if not [c for c in cert.certificates if c["status"] == "ACTIVE"]:
        new_certificate(aws, plan, args.config, "the device has none", access, cloud)
    elif cert.current() is None:
        plan.note("thing %s has a certificate but %s's files are not it (a private key cannot be read back): run "
                  "`tools/cloud.py rotate-key` to make a new one and write it" % (n.thing, args.config))
    else:
        wanted = dict(cloud.device_settings(n, access), **device_settings(aws, n, access))
        stale = sorted(k for k, v in wanted.items() if k not in state.config or state.config[k] != v)
        if stale:
            plan.change("update %s (%s)" % (args.config, ", ".join(stale)), write_config, cloud, args.config, wanted)
    if state.user is not None:
        plan.note("IAM user %s (the key mode's) still exists: with a certificate the device needs no key; "
                  "`tools/cloud.py destroy` removes both" % n.user)


def _retire(aws, plan, certificate):
    n = aws.names
    cid, arn = certificate["certificateId"], certificate["certificateArn"]
    plan.change("deactivate certificate %s…" % cid[:16], aws.iot.update_certificate, certificateId=cid,
                newStatus="INACTIVE")
    plan.change("detach it from thing %s and policy %s, and delete it" % (n.thing, n.iot_policy), _delete, aws, cid,
                arn)


def _delete(aws, cid, arn):
    n = aws.names
    aws.iot.detach_thing_principal(thingName=n.thing, principal=arn)
    for policy in aws.iot.list_attached_policies(target=arn)["policies"]:
        aws.iot.detach_policy(policyName=policy["policyName"], target=arn)
    aws.iot.delete_certificate(certificateId=cid, forceDelete=True)


def rotate(aws, args, plan, state, cloud):
    """rotate-key of a certificate-auth deployment."""
    n = aws.names
    cert = CertState(aws, args.config, state.config)
    if cert.thing is None:
        raise cloud.CloudError("no IoT thing %s: run `tools/cloud.py deploy --cert-auth` first" % n.thing)
    access = policies.DIRECT_SNS if state.config.get("CONFIG_AWS_LAMBDA_FUNCTION", n.function) is None \
        else policies.INVOKE
    current = cert.current()
    old = [c for c in cert.certificates if current is None or c["certificateId"] != current["certificateId"]]
    if current is not None and old:
        used = (cert.role or {}).get("RoleLastUsed", {}).get("LastUsedDate")
        if not args.force and (used is None or used <= current["creationDate"]):
            plan.note("the new certificate %s… has not been used yet (the device role was last used %s): provision "
                      "the device (`make provision`), let it notify once, and run rotate-key again (or add --force "
                      "to retire the old one now)" % (current["certificateId"][:16], used or "never"))
            return plan
    else:
        old = list(cert.certificates)  # the current one too: it is replaced
        new_certificate(aws, plan, args.config, "rotation", access, cloud)
        if old and not args.force:
            plan.note("the old certificate(s) %s stay ACTIVE until the device has used the new one: run `make "
                      "provision`, then `tools/cloud.py rotate-key` again to retire them"
                      % ", ".join(c["certificateId"][:16] + "…" for c in old))
            return plan
    for c in old:
        _retire(aws, plan, c)
    return plan


def destroy(aws, args, plan, state):
    """Removes everything deploy --cert-auth made (certificates deactivated first)."""
    n = aws.names
    cert = CertState(aws, args.config, state.config)
    for c in cert.certificates:
        if c["status"] == "ACTIVE":
            plan.change("deactivate certificate %s…" % c["certificateId"][:16], aws.iot.update_certificate,
                        certificateId=c["certificateId"], newStatus="INACTIVE")
        plan.change("detach and delete certificate %s…" % c["certificateId"][:16], _delete, aws, c["certificateId"],
                    c["certificateArn"])
    if cert.thing is not None:
        plan.change("delete IoT thing %s" % n.thing, aws.iot.delete_thing, thingName=n.thing)
    if cert.iot_policy is not None:
        plan.change("delete IoT policy %s" % n.iot_policy, aws.iot.delete_policy, policyName=n.iot_policy)
    if cert.role_alias is not None:
        plan.change("delete role alias %s" % n.role_alias, aws.iot.delete_role_alias, roleAlias=n.role_alias)
    if cert.role is not None:
        if cert.role_policy is not None:
            plan.change("delete the device role's policy", aws.iam.delete_role_policy, RoleName=n.device_role,
                        PolicyName=n.user_policy)
        plan.change("delete IAM role %s" % n.device_role, aws.iam.delete_role, RoleName=n.device_role)
    if cert.local_pem is not None:
        plan.note("%s still points at the deleted certificate; its files are next to it" % args.config)


def status(aws, args, state, line, out):
    """status of a certificate-auth deployment: line(what, verdict) reports a problem unless
    the verdict is "ok"."""
    n = aws.names
    cert = CertState(aws, args.config, state.config)
    access = policies.DIRECT_SNS if state.config.get("CONFIG_AWS_LAMBDA_FUNCTION", n.function) is None \
        else policies.INVOKE
    line("IoT thing %s" % n.thing, "ok" if cert.thing is not None else "missing")
    line("device role %s" % n.device_role, "missing" if cert.role is None else "ok" if policies.same(
        cert.role_policy, policies.device_policy(n, access)) and policies.same(
        cert.role["AssumeRolePolicyDocument"], policies.credentials_provider_trust_policy()) else "differs")
    line("role alias %s" % n.role_alias, "missing" if cert.role_alias is None else "ok"
         if cert.role_alias.get("roleArn") == n.device_role_arn else "points at another role")
    line("IoT policy %s" % n.iot_policy, "missing" if cert.iot_policy is None else "ok"
         if policies.same(cert.iot_policy, policies.iot_credentials_policy(n)) else "differs")
    current = cert.current()
    for c in cert.certificates:
        out.write("  %-44s %s%s\n" % ("certificate %s…" % c["certificateId"][:16], c["status"].lower(),
                                      ", in config.py" if current is c else ""))
    line("config.py certificate", "ok" if current is not None and current["status"] == "ACTIVE"
         else "%s's files are no ACTIVE certificate of %s" % (args.config, n.thing))

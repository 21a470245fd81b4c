#!/usr/bin/python
"""community.crypto.acme_certificate_order_create (community.crypto 2.26.6), for
CAs that offer challenges without a token.

Why a module: an authorization may offer challenge types that carry no token
(dns-persist-01, draft-ietf-acme-dns-persist; Pebble 2.10 offers it on every DNS
identifier, Let's Encrypt announced it for 2026). community.crypto 2.26.6 computes
validation data for every offered challenge and fails with a TypeError on such
a challenge, after the order was created; 3.x skips them
(Challenge.get_validation_data returns None when the token is None). This module
creates the order with the collection's own client code and returns the same
values as acme_certificate_order_create, computing validation data only for
dns-01, the one type tls.yml answers. acme_certificate_order_validate and
acme_certificate_order_finalize work unchanged: they only look up the dns-01
challenge by type.
"""
from ansible_collections.community.crypto.plugins.module_utils._acme.acme import create_backend, create_default_argspec
from ansible_collections.community.crypto.plugins.module_utils._acme.certificate import ACMECertificateClient
from ansible_collections.community.crypto.plugins.module_utils._acme.errors import ModuleFailException

DOCUMENTATION = r"""
module: tls_issuer_acme_order
short_description: Create an ACME v2 order and return its dns-01 challenges
description: The options of community.crypto.acme_certificate_order_create (account, CSR, replaces_cert_id, profile).
"""

RETURN = r"""
order_uri: {description: The order URI, for acme_certificate_order_validate and _finalize., type: str, returned: success}
account_uri: {description: The ACME account URI., type: str, returned: success}
challenge_data_dns: {description: TXT values per record name, for every authorization not yet valid., type: dict, returned: success}
identifiers: {description: The order's identifiers with their authorization status., type: list, returned: success}
"""

DNS01 = "dns-01"


def dns_challenges(client, order):
    data_dns, identifiers = {}, []
    for authz in order.authorizations.values():
        identifiers.append({"identifier": authz.identifier, "status": authz.status})
        if authz.status == "valid":
            continue  # an authorization the CA reused: nothing to prove
        challenge = authz.find_challenge(challenge_type=DNS01)
        if challenge is None or not challenge.token:
            raise ModuleFailException(f"the CA offers no dns-01 challenge with a token for {authz.identifier}")
        data = challenge.get_validation_data(client=client.client, identifier_type=authz.identifier_type,
                                            identifier=authz.identifier)
        data_dns.setdefault(data["record"], []).append(data["resource_value"])
    return data_dns, identifiers


def main():
    argument_spec = create_default_argspec(with_certificate=True)
    argument_spec.update_argspec(
        deactivate_authzs=dict(type="bool", default=True),
        replaces_cert_id=dict(type="str"),
        profile=dict(type="str"),
        order_creation_error_strategy=dict(type="str", default="auto",
                                           choices=["auto", "always", "fail", "retry_without_replaces_cert_id"]),
        order_creation_max_retries=dict(type="int", default=3),
    )
    module = argument_spec.create_ansible_module()
    if module.params["acme_version"] != 2:
        module.fail_json(msg="acme_version: only ACME v2 (RFC 8555) is supported")
    backend = create_backend(module, needs_acme_v2=False)
    try:
        client = ACMECertificateClient(module=module, backend=backend)
        profile = module.params["profile"]
        if profile is not None:
            profiles = (client.client.directory.get("meta") or {}).get("profiles") or {}
            if profile not in profiles:
                raise ModuleFailException(f"profile: the ACME CA offers {sorted(profiles) or 'no profiles'}, not {profile!r}")
        order, done = None, False
        try:
            order = client.create_order(replaces_cert_id=module.params["replaces_cert_id"], profile=profile)
            client.check_that_authorizations_can_be_used(order)
            data_dns, identifiers = dns_challenges(client, order)
            done = True
        finally:
            if module.params["deactivate_authzs"] and order and not done:
                client.deactivate_authzs(order)
        module.exit_json(changed=True, order_uri=order.url, account_uri=client.client.account_uri,
                         challenge_data_dns=data_dns, identifiers=identifiers)
    except ModuleFailException as e:
        e.do_fail(module=module)


if __name__ == "__main__":
    main()

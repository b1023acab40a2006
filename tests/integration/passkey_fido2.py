"""The harness's virtual passkey authenticator, judged by a relying party that
is not konform: python3-fido2's Fido2Server (Debian python3-fido2, 0.9.x API:
register_begin/register_complete, authenticate_begin/authenticate_complete).

Usage: passkey_fido2.py PK_DEMO   (PK_DEMO: build/tests/pk-demo, tests/integration/pk_demo.c)

Prints TAP. The honest ceremonies (fmt none and packed self, two assertions)
must verify. Every knob is then tried once; where the library checks what
the knob breaks, the library must refuse it. Where it does not, the case is
a TAP SKIP that names what the library leaves unchecked (konform-server's
own checks and the PK scenarios cover those).

Fido2Server 0.9.1 checks (so these knobs must be refused):
  type-wrong, challenge-unknown / -stale / -foreign / -reused (the state's
  challenge), origin-wrong, rp-id-other, up-clear, uv-clear (UV required),
  truncated and trailing-bytes (AuthenticatorData parsing), at-missing (no
  credential data), fmt-unknown and fmt-wrong-case (no such format),
  none-with-statement (NoneAttestation wants an empty attStmt),
  packed-wrong-alg (packed: statement alg = key alg), client-data-edited,
  sig-bit-flipped and sig-other-key (signatures, packed and assertions),
  alg-not-offered (the -8 label makes the EC2 key unusable as Ed25519).
It does not check (SKIP): cross-origin, top-origin, bs-without-be,
cred-id-long, cred-id-duplicate (no credential store), user-handle-other
(userHandle unread), counter-back and counter-still (no counter),
client-data-edited on a create with fmt none (nothing signs it at all).
"""

import base64
import json
import os
import subprocess
import sys

RP_ID = "example.com"
ORIGIN = "https://example.com"

try:
    from fido2 import __version__ as fido2_version
    from fido2.attestation import Attestation
    from fido2.client import ClientData
    from fido2.ctap2 import AttestationObject, AuthenticatorData
    from fido2.server import Fido2Server
    from fido2.webauthn import PublicKeyCredentialParameters, PublicKeyCredentialRpEntity
except ImportError as e:  # pragma: no cover - the deps script installs it
    print("TAP version 14")
    print("Bail out! python3-fido2 is missing (scripts/install-deps.sh installs it): %s" % e)
    sys.exit(1)


def b64(data):
    return base64.urlsafe_b64encode(bytes(data)).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_attestation(attestation_object, client_data_hash):
    """Any format the library knows, self attestation accepted (no trust path)."""
    cls = Attestation.for_type(attestation_object.fmt)
    cls().verify(attestation_object.att_statement, attestation_object.auth_data, client_data_hash)


class Demo:
    """The authenticator program, one JSON command a line."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     universal_newlines=True)

    def call(self, **cmd):
        cmd.setdefault("origin", ORIGIN)
        cmd.setdefault("rp_id", RP_ID)
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if not answer["ok"]:
            raise RuntimeError("the authenticator refused: " + answer["error"])
        return answer["response"]

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait()


def server():
    srv = Fido2Server(PublicKeyCredentialRpEntity(RP_ID, "Jobcenter.Digital"),
                      attestation="direct", verify_attestation=verify_attestation)
    # ES256 only, as konform-server offers; alg-not-offered then names an alg not offered.
    srv.allowed_algorithms = [PublicKeyCredentialParameters("public-key", -7)]
    return srv


def creation_options(srv, user_id):
    options, state = srv.register_begin({"id": user_id, "name": "max", "displayName": "Max"},
                                        user_verification="required", resident_key=True)
    pk = options["publicKey"]
    as_json = {"challenge": b64(pk.challenge), "rp": {"id": RP_ID, "name": "Jobcenter.Digital"},
               "user": {"id": b64(user_id), "name": "max", "displayName": "Max"},
               "pubKeyCredParams": [{"type": "public-key", "alg": p.alg}
                                    for p in pk.pub_key_cred_params],
               "authenticatorSelection": {"residentKey": "required",
                                          "userVerification": "required"}}
    return as_json, state


def register(srv, demo, key, fmt="packed", faults=(), user_id=b"\x22" * 32):
    options, state = creation_options(srv, user_id)
    resp = demo.call(op="create", key=key, options=options, fmt=fmt, faults=list(faults))
    r = resp["response"]
    auth_data = srv.register_complete(state, ClientData(unb64(r["clientDataJSON"])),
                                      AttestationObject(unb64(r["attestationObject"])))
    return auth_data.credential_data


def authenticate(srv, demo, key, cred, faults=()):
    options, state = srv.authenticate_begin([], user_verification="required")
    pk = options["publicKey"]
    as_json = {"challenge": b64(pk.challenge), "rpId": RP_ID, "userVerification": "required",
               "allowCredentials": []}
    resp = demo.call(op="get", key=key, options=as_json, faults=list(faults))
    r = resp["response"]
    srv.authenticate_complete(state, [cred], unb64(resp["rawId"]),
                              ClientData(unb64(r["clientDataJSON"])),
                              AuthenticatorData(unb64(r["authenticatorData"])),
                              unb64(r["signature"]))
    return AuthenticatorData(unb64(r["authenticatorData"]))


# (knob, ceremony, argument, what fido2 leaves unchecked or None when it checks it)
KNOBS = [
    ("type-wrong", "create", None, None),
    ("type-wrong", "get", None, None),
    ("challenge-unknown", "create", None, None),
    ("challenge-unknown", "get", None, None),
    ("challenge-stale", "get", "@old", None),
    ("challenge-foreign", "create", "@old", None),
    ("challenge-reused", "get", None, None),
    ("origin-wrong", "create", None, None),
    ("origin-wrong", "get", None, None),
    ("cross-origin", "get", None, "crossOrigin is not read"),
    ("top-origin", "create", None, "topOrigin is not read"),
    ("client-data-edited", "create", None, None),
    ("client-data-edited", "get", None, None),
    ("rp-id-other", "create", None, None),
    ("rp-id-other", "get", None, None),
    ("up-clear", "create", None, None),
    ("up-clear", "get", None, None),
    ("uv-clear", "create", None, None),
    ("uv-clear", "get", None, None),
    ("bs-without-be", "create", None, "BE/BS consistency is not checked"),
    ("bs-without-be", "get", None, "BE/BS consistency is not checked"),
    ("at-missing", "create", None, None),
    ("truncated", "create", None, None),
    ("truncated", "get", None, None),
    ("trailing-bytes", "create", None, None),
    ("trailing-bytes", "get", None, None),
    ("fmt-unknown", "create", None, None),
    ("fmt-wrong-case", "create", None, None),
    ("none-with-statement", "create", None, None),
    ("packed-wrong-alg", "create", None, None),
    ("alg-not-offered", "create", None, None),
    ("cred-id-long", "create", None, "the credential id length is not checked"),
    ("cred-id-duplicate", "create", "@k0", "the library keeps no credential store"),
    ("sig-bit-flipped", "create", None, None),
    ("sig-bit-flipped", "get", None, None),
    ("sig-other-key", "create", None, None),
    ("sig-other-key", "get", None, None),
    ("user-handle-other", "get", "@other", "userHandle is not read"),
    ("counter-back", "get", None, "the sign counter is not checked"),
    ("counter-still", "get", None, "the sign counter is not checked"),
]


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def case(self, name, fn, skip=None):
        self.n += 1
        if skip is not None:
            print("ok %d - %s # SKIP %s" % (self.n, name, skip))
            return
        try:
            why = fn()
            print("ok %d - %s" % (self.n, name))
            if why:
                print("# %s" % why)
        except Exception as e:  # noqa: BLE001 - every failure is a "not ok" with its reason
            self.failed += 1
            print("not ok %d - %s" % (self.n, name))
            print("  ---\n  message: %s\n  ..." % json.dumps(str(e)))
        sys.stdout.flush()


def refused(fn):
    """fn must raise what the library raises for a bad response (never our own refusal)."""
    try:
        fn()
    except RuntimeError:
        raise
    except Exception as e:  # noqa: BLE001 - ValueError, InvalidData, InvalidSignature, ...
        return "%s: %s" % (type(e).__name__, e)
    raise AssertionError("Fido2Server accepted it")


def main():
    demo = Demo(sys.argv[1])
    srv = server()
    tap = Tap()
    print("TAP version %s" % ("13" if os.environ.get("TAP_VERSION") == "13" else "14"))
    print("# python3-fido2 %s" % fido2_version)
    creds = {}

    def honest():
        creds["k0"] = register(srv, demo, "k0", fmt="none")
        creds["k1"] = register(srv, demo, "k1", fmt="packed")
        creds["other"] = register(srv, demo, "other", user_id=b"\x44" * 32)
        first = authenticate(srv, demo, "k1", creds["k1"])
        second = authenticate(srv, demo, "k1", creds["k1"])
        assert second.counter == first.counter + 1, "the counter did not move on"
        assert first.is_user_verified() and first.is_user_present()

    tap.case("fmt none and packed self verify, assertions verify, the counter moves on", honest)
    old, _ = creation_options(srv, b"\x22" * 32)

    def arg_of(arg):
        if arg == "@old":
            return json.dumps(old)
        return arg

    for knob, ceremony, arg, unchecked in KNOBS:
        faults = [[knob] if arg is None else [knob, arg_of(arg)]]

        def attempt(knob=knob, ceremony=ceremony, faults=faults):
            if ceremony == "create":
                return refused(lambda: register(srv, demo, "x-" + knob, faults=faults))
            return refused(lambda: authenticate(srv, demo, "k1", creds["k1"], faults=faults))

        tap.case("%s (%s) is refused by Fido2Server" % (knob, ceremony), attempt,
                 skip=None if unchecked is None else "python3-fido2 %s: %s" % (fido2_version,
                                                                               unchecked))
    print("1..%d" % tap.n)
    demo.close()
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Interop with a standard JOSE library (joserfc) and a standard RFC 8785 library (rfc8785).

  python jose_interop.py verify JWS_FILE PUBLIC_JWK_FILE
      Verifies an irtx message or receipt (flattened JWS) with the signer's public JWK and
      prints the lowercase hex SHA-256 of its payload, then the payload's `id` or
      `message_id`. Exit 1 if it does not verify.
  python jose_interop.py sign OBJECT_JSON_FILE PRIVATE_JWK_FILE ALG
      Signs the RFC 8785 canonical form of a JSON object as irtx expects (flattened JWS,
      protected {"alg": ALG, "kid": RFC 7638 thumbprint}) and prints the JWS.
"""
import hashlib
import json
import sys
import warnings

import rfc8785
from joserfc import jws
from joserfc.jwk import OKPKey

warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated by RFC 9864


def main() -> int:
    cmd = sys.argv[1]
    if cmd == "verify":
        token = json.load(open(sys.argv[2]))
        key = OKPKey.import_key(json.load(open(sys.argv[3])))
        try:
            obj = jws.deserialize_json(token, key, algorithms=["EdDSA", "Ed25519"])
        except Exception as e:  # noqa: BLE001 - any failure is a refusal here
            print(f"does not verify: {e}", file=sys.stderr)
            return 1
        payload = obj.payload
        body = json.loads(payload)
        print(hashlib.sha256(payload).hexdigest())
        print(body.get("id") or body.get("message_id"))
        return 0
    if cmd == "sign":
        obj = json.load(open(sys.argv[2]))
        key = OKPKey.import_key(json.load(open(sys.argv[3])))
        alg = sys.argv[4]
        payload = rfc8785.dumps(obj)
        header = {"alg": alg, "kid": key.thumbprint()}
        out = jws.serialize_json({"protected": header}, payload, key, algorithms=[alg])
        print(json.dumps(out))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

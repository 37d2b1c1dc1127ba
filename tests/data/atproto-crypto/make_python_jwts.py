#!/usr/bin/env python3
"""Writes python_jwts.json: ES256K / ES256 JWTs signed by an independent implementation (Python
`cryptography`, OpenSSL-backed but with its own JOSE glue written here), so plyr's verifier is checked against
tokens it did not make. Keys are the interop fixture keys (atproto-interop/crypto/w3c_didkey_*.json).
Signatures are normalised to low-S. Run: python3 make_python_jwts.py > python_jwts.json"""
import base64, hashlib, json
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

K256_HEX = "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c"
K256_DID = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"
P256_B58 = "9p4VRzdmhsnq869vQjVCTrRry7u4TtfRxhvBFJTGU2Cp"
P256_DID = "did:key:zDnaeTiq1PdzvZXUaMdezchcMJQpBdH2VN4pgrrEhMCCbmwSb"
ORDERS = {
    "ES256K": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(s):
    n = 0
    for c in s:
        n = n * 58 + B58.index(c)
    return n.to_bytes(32, "big")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(key, alg, header, payload):
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(payload, separators=(",", ":")).encode())
    der = key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    n = ORDERS[alg]
    if s > n // 2:
        s = n - s
    return f"{h}.{p}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


k256 = ec.derive_private_key(int(K256_HEX, 16), ec.SECP256K1())
p256 = ec.derive_private_key(int.from_bytes(b58decode(P256_B58), "big"), ec.SECP256R1())
payload = {"iss": "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "aud": "did:web:plyr.example#plyr_appview",
           "lxm": "fm.plyr.feed.getTracks", "jti": "6f1c2d", "iat": 1767225600, "exp": 1767225660}
out = [
    {"did_key": K256_DID, "alg": "ES256K", "payload": payload,
     "jwt": sign(k256, "ES256K", {"typ": "JWT", "alg": "ES256K"}, payload)},
    {"did_key": P256_DID, "alg": "ES256", "payload": payload,
     "jwt": sign(p256, "ES256", {"typ": "JWT", "alg": "ES256"}, payload)},
]
print(json.dumps(out, indent=1))

"""Signatures cross between edgeway and the seed's Python IoTSecurityManager.

A message signed by the seed's sign_data (ECDSA P-256, SHA-256, DER, base64; Python's
cryptography) verifies with `edgeway keys verify`, a tampered one does not; a message signed by
`edgeway keys sign` verifies with the seed's verify_signature.

  EDGEWAY_BINARY=build/ci/edgeway SEED=../shared/baselines/seed_security.py python3 ...
"""
import base64, importlib.util, json, os, subprocess, sys, tempfile

edgeway = os.environ["EDGEWAY_BINARY"]
seed_path = os.environ.get("SEED", "")

if os.path.exists(seed_path):
    spec = importlib.util.spec_from_file_location("seed_security", seed_path)
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    Manager = seed.IoTSecurityManager
    print(f"using the seed's IoTSecurityManager from {seed_path}")
else:
    # The seed's two methods, with the same library calls, where the seed is not checked out.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    class Manager:
        def generate_key_pair(self):
            self.private_key = ec.generate_private_key(ec.SECP256R1())
            return {'public_key': self.private_key.public_key().public_bytes(
                encoding=serialization.Encoding.PEM,
                format=serialization.PublicFormat.SubjectPublicKeyInfo)}

        def sign_data(self, data):
            return base64.b64encode(self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()

        def verify_signature(self, data, signature, public_key_pem):
            try:
                key = serialization.load_pem_public_key(public_key_pem)
                key.verify(base64.b64decode(signature), data, ec.ECDSA(hashes.SHA256()))
                return True
            except Exception:
                return False
    print("seed not found; using its methods inline")


def run(*args):
    return subprocess.run([edgeway, "keys", *args], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    mgr = Manager()
    keys = mgr.generate_key_pair()
    pub = os.path.join(tmp, "seed.pub")
    open(pub, "wb").write(keys["public_key"])
    message = json.dumps({"sensor_type": "temperature", "value": 23.5, "unit": "celsius",
                          "battery_level": 85}, sort_keys=True).encode()
    data = os.path.join(tmp, "message.json")
    open(data, "wb").write(message)

    # Python signs, edgeway verifies.
    sig = mgr.sign_data(message)
    r = run("verify", "--pub", pub, "--in", data, "--signature", sig)
    assert r.returncode == 0, f"edgeway refused the seed's signature: {r.stderr}"
    open(data, "wb").write(message.replace(b"23.5", b"99.9"))
    r = run("verify", "--pub", pub, "--in", data, "--signature", sig)
    assert r.returncode == 1, f"edgeway accepted a tampered message: {r.stdout}{r.stderr}"
    open(data, "wb").write(message)

    # edgeway signs, Python verifies.
    key = os.path.join(tmp, "device.key")
    r = run("gen", "--key", key)
    assert r.returncode == 0, r.stderr
    r = run("sign", "--key", key, "--in", data)
    assert r.returncode == 0, r.stderr
    edgeway_sig = r.stdout.strip()
    edgeway_pub = open(key + ".pub", "rb").read()
    assert mgr.verify_signature(message, edgeway_sig, edgeway_pub), "the seed refused edgeway's"
    assert not mgr.verify_signature(message + b" ", edgeway_sig, edgeway_pub)
print("interop: the seed's signatures verify in edgeway and edgeway's in the seed")

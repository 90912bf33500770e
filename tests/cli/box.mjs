// The client-side crypto tests/cli_daemon.rs needs, with node's own `crypto` (no packages):
//   node box.mjs keys              -> {"publicKey": b64 X25519 public key, "machineKey": b64 32 random bytes}
//   node box.mjs encrypt KEY JSON  -> b64 of the CLI's "dataKey" bundle: 0x00 | nonce(12) | AES-256-GCM ciphertext | tag(16)
//   node box.mjs decrypt KEY B64   -> the JSON inside such a bundle
// KEY is the base64 machineKey of access.key, which the daemon encrypts its metadata, daemon
// state and RPC traffic with.
import crypto from 'node:crypto';

const [command, key, data] = process.argv.slice(2);

function encrypt(keyB64, value) {
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', Buffer.from(keyB64, 'base64'), nonce);
  const body = Buffer.concat([cipher.update(JSON.stringify(value)), cipher.final()]);
  return Buffer.concat([Buffer.from([0]), nonce, body, cipher.getAuthTag()]).toString('base64');
}

function decrypt(keyB64, bundleB64) {
  const bundle = Buffer.from(bundleB64, 'base64');
  if (bundle[0] !== 0) throw new Error('not a dataKey bundle');
  const decipher = crypto.createDecipheriv('aes-256-gcm', Buffer.from(keyB64, 'base64'), bundle.subarray(1, 13));
  decipher.setAuthTag(bundle.subarray(bundle.length - 16));
  return JSON.parse(Buffer.concat([decipher.update(bundle.subarray(13, bundle.length - 16)), decipher.final()]).toString());
}

switch (command) {
  case 'keys': {
    const { publicKey } = crypto.generateKeyPairSync('x25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    console.log(JSON.stringify({ publicKey: raw.toString('base64'), machineKey: crypto.randomBytes(32).toString('base64') }));
    break;
  }
  case 'encrypt':
    console.log(encrypt(key, JSON.parse(data)));
    break;
  case 'decrypt':
    console.log(JSON.stringify(decrypt(key, data)));
    break;
  default:
    console.error('usage: box.mjs keys | encrypt KEY JSON | decrypt KEY B64');
    process.exit(2);
}

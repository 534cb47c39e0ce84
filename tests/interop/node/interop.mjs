// Interop harness for @sd-jwt/jwt-status-list, driven by tests/interop/test_npm_sd_jwt_status_list.py.
//
// Reads one JSON request on stdin and writes one JSON response on stdout. On failure it writes the
// error to stderr and exits non-zero. Operations ("op"):
//
//   decode     {status_list: {bits, lst}}  -> {bits, statuses}
//              StatusList.decompressStatusList (their inflate + unpacking).
//   encode     {bits, statuses}            -> {status_list: {bits, lst}}
//              new StatusList(statuses, bits).compressStatusList() (their packing + deflate).
//   read_jwt   {jwt, public_jwk}           -> {header, payload, bits, statuses, signature_valid}
//              getListFromStatusListJWT (their JWT helper). The package does not verify
//              signatures ("validation of the JWT is not provided by this library"), so the
//              ES256 signature is checked here with node:crypto, independently of our code.
//   make_jwt   {bits, statuses, payload, header, private_key_pem, typ?}  -> {jwt}
//              createHeaderAndPayload (their JWT helper) then an ES256 signature with
//              node:crypto. "typ", when given, overwrites the header typ after their helper ran
//              (to build a mistyped token for negative tests).

import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { createHeaderAndPayload, getListFromStatusListJWT, StatusList } from '@sd-jwt/jwt-status-list';

const b64url = (data) => Buffer.from(data).toString('base64url');
const unb64url = (text) => Buffer.from(text, 'base64url');

function decode({ status_list }) {
  const list = StatusList.decompressStatusList(status_list.lst, status_list.bits);
  return { bits: list.getBitsPerStatus(), statuses: list.statusList };
}

function encode({ bits, statuses }) {
  const list = new StatusList(statuses, bits);
  return { status_list: { bits: list.getBitsPerStatus(), lst: list.compressStatusList() } };
}

function readJwt({ jwt, public_jwk }) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(unb64url(h).toString('utf8'));
  const payload = JSON.parse(unb64url(p).toString('utf8'));
  const key = createPublicKey({ key: public_jwk, format: 'jwk' });
  const signatureValid = verify(
    'sha256',
    Buffer.from(`${h}.${p}`, 'ascii'),
    { key, dsaEncoding: 'ieee-p1363' },
    unb64url(s),
  );
  const list = getListFromStatusListJWT(jwt);
  return {
    header,
    payload,
    bits: list.getBitsPerStatus(),
    statuses: list.statusList,
    signature_valid: signatureValid,
  };
}

function makeJwt({ bits, statuses, payload, header, private_key_pem, typ }) {
  const list = new StatusList(statuses, bits);
  const out = createHeaderAndPayload(list, payload, header);
  if (typ !== undefined) {
    out.header.typ = typ;
  }
  const signingInput = `${b64url(JSON.stringify(out.header))}.${b64url(JSON.stringify(out.payload))}`;
  const key = createPrivateKey(private_key_pem);
  const signature = sign('sha256', Buffer.from(signingInput, 'ascii'), { key, dsaEncoding: 'ieee-p1363' });
  return { jwt: `${signingInput}.${b64url(signature)}` };
}

const OPS = { decode, encode, read_jwt: readJwt, make_jwt: makeJwt };

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const op = OPS[request.op];
  if (op === undefined) {
    throw new Error(`unknown op ${JSON.stringify(request.op)}`);
  }
  process.stdout.write(JSON.stringify(op(request)));
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});

// Inflates zlib streams with pako (the inflater of the npm status-list peer), for
// tests/codec/test_decoders.py.
//
// Reads a JSON array of base64 zlib streams on stdin and writes a JSON array of
// {length, sha256} of what pako.inflate returns for each; a stream pako rejects is an error
// (non-zero exit, message on stderr).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pako from 'pako';

const streams = JSON.parse(readFileSync(0, 'utf8'));
const out = streams.map((b64, i) => {
  let raw;
  try {
    raw = pako.inflate(Buffer.from(b64, 'base64'));
  } catch (e) {
    throw new Error(`stream ${i}: pako.inflate failed: ${e}`);
  }
  return { length: raw.length, sha256: createHash('sha256').update(raw).digest('hex') };
});
process.stdout.write(JSON.stringify(out));

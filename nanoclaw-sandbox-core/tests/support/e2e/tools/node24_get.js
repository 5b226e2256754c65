// An HTTPS GET with Node 24's own proxy support, no agent of ours: with
// NODE_USE_ENV_PROXY=1 Node routes both fetch() and https.get() through
// HTTPS_PROXY (honouring NO_PROXY); without it Node ignores the variables and
// goes direct. Trust is Node's default (its built-in roots plus
// NODE_EXTRA_CA_CERTS), verification on.
//
//   node node24_get.js fetch https://upstream.test/hello   (global fetch, undici)
//   node node24_get.js https https://upstream.test/hello   (https.get, the global agent)
//
// Prints the body and exits 0; on any error prints `node-error: CODE: message`
// (CODE such as SELF_SIGNED_CERT_IN_CHAIN or UNABLE_TO_VERIFY_LEAF_SIGNATURE;
// for fetch, the code of the error's cause) on stderr and exits 1.
'use strict';
const https = require('https');

function fail(err) {
  // fetch() rejects with `TypeError: fetch failed`; the cause says why.
  const why = err.cause || err;
  console.error(`node-error: ${why.code || 'NO_CODE'}: ${why.message}`);
  process.exit(1);
}

function done(status, body) {
  if (status !== 200) fail({ code: `HTTP_${status}`, message: body });
  process.stdout.write(body);
}

const [mode, url] = process.argv.slice(2);
const timer = setTimeout(() => fail({ code: 'TIMEOUT', message: 'no answer in 20s' }), 20000);
timer.unref();

if (mode === 'fetch') {
  fetch(url)
    .then((res) => res.text().then((body) => done(res.status, body)))
    .catch(fail);
} else if (mode === 'https') {
  https
    .get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => done(res.statusCode, body));
      res.on('error', fail);
    })
    .on('error', fail);
} else {
  fail({ code: 'USAGE', message: `mode must be fetch or https, not ${mode}` });
}

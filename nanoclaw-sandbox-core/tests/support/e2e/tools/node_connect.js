// An HTTPS GET the way a proxy-aware Node agent does it: Node 18 does not
// read proxy variables itself, so this opens an HTTP CONNECT tunnel through
// HTTPS_PROXY (unless NO_PROXY names the host), then TLS over the tunnel with
// Node's default trust (its built-in roots plus NODE_EXTRA_CA_CERTS) and
// verification on.
//
//   node node_connect.js https://upstream.test/hello
//
// Prints the body and exits 0; on any error prints `node-error: CODE: message`
// (CODE such as SELF_SIGNED_CERT_IN_CHAIN or UNABLE_TO_VERIFY_LEAF_SIGNATURE)
// on stderr and exits 1.
'use strict';
const http = require('http');
const https = require('https');
const tls = require('tls');

function fail(err) {
  console.error(`node-error: ${err.code || 'NO_CODE'}: ${err.message}`);
  process.exit(1);
}

function bypassed(host) {
  const list = (process.env.NO_PROXY || process.env.no_proxy || '')
    .split(',').map((e) => e.trim().replace(/^\*?\./, '')).filter(Boolean);
  return list.some((e) => e === '*' || host === e || host.endsWith(`.${e}`));
}

function printResponse(res) {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => { body += chunk; });
  res.on('end', () => {
    if (res.statusCode !== 200) fail({ code: `HTTP_${res.statusCode}`, message: body });
    process.stdout.write(body);
  });
  res.on('error', fail);
}

const target = new URL(process.argv[2]);
const host = target.hostname;
const port = Number(target.port || 443);
const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
const timer = setTimeout(() => fail({ code: 'TIMEOUT', message: 'no answer in 20s' }), 20000);
timer.unref();

if (!proxy || bypassed(host)) {
  https.get(target, printResponse).on('error', fail);
} else {
  const proxyUrl = new URL(proxy);
  const connect = http.request({
    host: proxyUrl.hostname,
    port: Number(proxyUrl.port || 80),
    method: 'CONNECT',
    path: `${host}:${port}`,
    headers: { host: `${host}:${port}` },
  });
  connect.on('error', fail);
  connect.on('connect', (res, socket) => {
    if (res.statusCode !== 200) {
      fail({ code: `PROXY_${res.statusCode}`, message: `CONNECT ${host}:${port} refused` });
    }
    // No `ca` option: Node's default trust applies, which is what
    // NODE_EXTRA_CA_CERTS extends.
    const secure = tls.connect({ socket, servername: host });
    secure.on('error', fail);
    secure.on('secureConnect', () => {
      const get = http.request(
        {
          host,
          port,
          path: target.pathname + target.search,
          headers: { host: target.host, connection: 'close' },
          createConnection: () => secure,
        },
        printResponse,
      );
      get.on('error', fail);
      get.end();
    });
  });
  connect.end();
}

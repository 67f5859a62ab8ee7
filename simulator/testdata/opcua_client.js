// opcua_client.js: a node-opcua client the simulator's interop test runs
// against `sluice sim serve`. It connects with SecurityPolicy None, opens an
// anonymous session (or a user-name one when OPCUA_USER is set), browses
// Objects and the Dam folder, reads every variable found there and prints
// one JSON object on stdout: {"browsed":[names],"values":{name:value}}.
// Usage: NODE_PATH=.tools/node/node_modules node opcua_client.js opc.tcp://127.0.0.1:4840
"use strict";
const opcua = require("node-opcua");

async function main() {
  const endpoint = process.argv[2];
  const client = opcua.OPCUAClient.create({
    endpointMustExist: false,
    securityMode: opcua.MessageSecurityMode.None,
    securityPolicy: opcua.SecurityPolicy.None,
    connectionStrategy: { maxRetry: 1, initialDelay: 200, maxDelay: 500 },
  });
  await client.connect(endpoint);
  const user = process.env.OPCUA_USER;
  const session = user
    ? await client.createSession({ type: opcua.UserTokenType.UserName, userName: user, password: process.env.OPCUA_PASSWORD || "" })
    : await client.createSession();
  const out = { browsed: [], values: {} };
  const objects = await session.browse("ns=0;i=85");
  for (const r of objects.references || []) {
    out.browsed.push(r.browseName.name);
  }
  const dam = await session.browse("ns=2;s=Dam");
  const ids = [];
  for (const r of dam.references || []) {
    if (r.nodeClass === opcua.NodeClass.Variable) {
      ids.push(r.nodeId.toString());
    }
  }
  const dvs = await session.read(ids.map((nodeId) => ({ nodeId, attributeId: opcua.AttributeIds.Value })));
  dvs.forEach((dv, i) => {
    out.values[ids[i].replace(/^ns=2;s=/, "")] = dv.statusCode.isGood() ? dv.value.value : dv.statusCode.name;
  });
  await session.close();
  await client.disconnect();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});

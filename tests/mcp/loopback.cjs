// Preloaded (`node --require`) into the MCP reference servers the tests start over HTTP.
// Their HTTP transport listens on every interface when only given a port: this makes any
// listener that names a port but no host listen on 127.0.0.1 instead, so the tests open
// nothing beyond loopback. And the server exits when its stdin closes, so it cannot outlive
// the test process that started it, even one that was killed.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  if ((typeof port === "number" || /^\d+$/.test(String(port))) && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

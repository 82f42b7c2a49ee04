// Preloaded (`node --require`) into the MCP reference servers the tests start, whose HTTP
// transport listens on every interface when only given a port: this makes any listener that
// names a port but no host listen on 127.0.0.1 instead, so the tests open nothing beyond
// loopback.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  if ((typeof port === "number" || /^\d+$/.test(String(port))) && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

import "./frame.css";
import type { HostToFrame, StoreKey } from "../shared/bridge";
import { readConfig } from "../shared/config";
import { Chat, type FrameConfig } from "./chat";
import { HostLink } from "./host";
import { Store } from "./store";
import { View } from "./view";

async function main(): Promise<void> {
  const config = readConfig<FrameConfig>();

  let chat: Chat | null = null;
  const early: HostToFrame[] = [];
  let hostStored: (state: Partial<Record<StoreKey, string>>) => void = () => undefined;
  const hostState = new Promise<Partial<Record<StoreKey, string>>>((r) => (hostStored = r));
  const deliver = (to: Chat, message: HostToFrame) => {
    if (message.type === "page") to.hostPage(message.url, message.title);
    else if (message.type !== "stored") to.hostOpened(message.type === "opened");
  };
  const host = new HostLink(config.host, config.instance, (message) => {
    if (message.type === "stored") hostStored(message.state);
    else if (chat) deliver(chat, message);
    else early.push(message);
  });

  const root = document.documentElement.style;
  if (config.color) root.setProperty("--brand", config.color);
  if (config.ink) root.setProperty("--brand-ink", config.ink);
  const view = new View(config.siteName, config.greeting, config.channels, config.showStaff !== false);
  host.post({ type: "ready" });
  // The store may need the host's answer to "ready" before the socket can connect.
  const store = await Store.open(config.siteKey, host, hostState);
  const ready = new Chat(config, view, host, store);
  chat = ready;
  view.bind(ready);
  early.splice(0).forEach((message) => deliver(ready, message));
  view.focus();
}

void main();

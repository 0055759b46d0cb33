import { unwrap, wrap, type FrameToHost, type HostToFrame } from "../shared/bridge";

/** The link to the page that embeds this frame. Only messages from the host origin, from
 * the parent window and for this widget instance are heard. */
export class HostLink {
  constructor(
    private readonly origin: string,
    private readonly instance: string,
    onMessage: (message: HostToFrame) => void,
  ) {
    addEventListener("message", (e) => {
      const message = unwrap<HostToFrame>(e, origin, window.parent, instance);
      if (message) onMessage(message);
    });
  }

  post(message: FrameToHost): void {
    if (window.parent === window) return;
    try {
      window.parent.postMessage(wrap(this.instance, message), this.origin);
    } catch {
      // An unusable host origin in the config: there is nobody to tell.
    }
  }
}

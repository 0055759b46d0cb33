"""The pages and the init script of bench/call_setup.py (JavaScript and HTML, kept here so that
the benchmark's only files are Python modules).

``HOOK`` runs in every frame of every benchmark page before the page's own code. It only
observes: it timestamps the first "connected" of every RTCPeerConnection the page creates, the
first frame of each video labelled "Their video" (two ways: the first 10 ms read at which
``getVideoPlaybackQuality().totalVideoFrames`` counts one, and ``requestVideoFrameCallback``),
the video's media events, long tasks, and (on the staff side) the click on a ring's Accept
button. Every time is ``performance.timeOrigin + performance.now()``: epoch milliseconds at
sub-millisecond resolution, one clock for all pages and frames of the machine.

``FLOOR_PAGE`` is the floor's page: the media set-up of widget/src/call/session.ts (devices, one
RTCPeerConnection, the customer offers, trickled candidates) without server, socket or UI.
"""

from __future__ import annotations

HOOK = r"""
(() => {
  if (window.__bench) return;
  const now = () => performance.timeOrigin + performance.now();
  const bench = {
    accept: null,
    pcs: [],
    frames: [],
    live: [],
    videoEvents: [],
    longTasks: [],
    reset() {
      this.videoEvents.length = 0;
      this.longTasks.length = 0;
      this.accept = null;
      this.pcs.length = 0;
      this.frames.length = 0;
      this.live.length = 0;
    },
    /** performance.timeOrigin + performance.now() minus Date.now(): the clock check. */
    skew() {
      return performance.timeOrigin + performance.now() - Date.now();
    },
    /** The selected candidate pair of the newest peer connection (from getStats). */
    async path() {
      const pc = this.live[this.live.length - 1];
      if (!pc) return null;
      const report = await pc.getStats();
      let pairId = null;
      report.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      });
      const pair = pairId ? report.get(pairId) : null;
      if (!pair) return null;
      const local = report.get(pair.localCandidateId) || {};
      const remote = report.get(pair.remoteCandidateId) || {};
      let framesDecoded = 0;
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") framesDecoded += s.framesDecoded || 0;
      });
      const rtp = {};
      report.forEach((s) => {
        if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "video") {
          const codec = report.get(s.codecId);
          rtp[s.type] = {
            codec: codec ? codec.mimeType : null,
            frames: s.framesDecoded ?? s.framesEncoded,
            keyFrames: s.keyFramesDecoded ?? s.keyFramesEncoded,
            pliCount: s.pliCount,
            firCount: s.firCount,
            nackCount: s.nackCount,
            framesDropped: s.framesDropped,
            qualityLimitationReason: s.qualityLimitationReason,
            encoder: s.encoderImplementation,
            decoder: s.decoderImplementation,
          };
        }
      });
      return {
        rtp,
        local: { type: local.candidateType, address: local.address, protocol: local.protocol,
                 relayProtocol: local.relayProtocol, url: local.url },
        remote: { type: remote.candidateType, address: remote.address },
        framesDecoded,
      };
    },
  };
  window.__bench = bench;

  // Main-thread tasks over 50 ms: what delays rendering (and so the first presented frame).
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        bench.longTasks.push({
          start: performance.timeOrigin + entry.startTime,
          duration: entry.duration,
        });
      }
    }).observe({ type: "longtask", buffered: false });
  } catch {
    // No long-task timing here; nothing else depends on it.
  }

  const Native = window.RTCPeerConnection;
  if (Native) {
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        const mark = {
          created: now(),
          policy: (args[0] && args[0].iceTransportPolicy) || "all",
          iceConnected: null,
          connected: null,
        };
        mark.tracks = {};
        bench.pcs.push(mark);
        this.addEventListener("track", ({ track }) => {
          const t = { added: now(), unmuted: track.muted ? null : now() };
          mark.tracks[track.kind] = t;
          track.addEventListener("unmute", () => {
            if (t.unmuted === null) t.unmuted = now();
          });
        });
        bench.live.push(this);
        this.addEventListener("iceconnectionstatechange", () => {
          const state = this.iceConnectionState;
          if (mark.iceConnected === null && (state === "connected" || state === "completed")) {
            mark.iceConnected = now();
          }
        });
        this.addEventListener("connectionstatechange", () => {
          if (mark.connected === null && this.connectionState === "connected") {
            mark.connected = now();
          }
        });
      }
    };
  }

  const watch = (video) => {
    if (video.__benchWatched || typeof video.requestVideoFrameCallback !== "function") return;
    video.__benchWatched = true;
    const events = { inserted: now() };
    bench.videoEvents.push(events);
    for (const name of ["loadedmetadata", "loadeddata", "canplay", "playing", "resize"]) {
      video.addEventListener(name, () => {
        if (!(name in events)) events[name] = now();
      });
    }
    // A second estimator: getVideoPlaybackQuality().totalVideoFrames, read every 10 ms
    // (at most 30 s): the first read that counts a frame.
    const started = now();
    const count = setInterval(() => {
      if (video.getVideoPlaybackQuality().totalVideoFrames > 0) {
        events.counted = now();
        clearInterval(count);
      } else if (now() - started > 30000) {
        clearInterval(count);
      }
    }, 10);
    video.requestVideoFrameCallback((callbackAt, meta) => {
      bench.frames.push({
        presented: performance.timeOrigin + (meta.presentationTime || callbackAt),
        received: meta.receiveTime ? performance.timeOrigin + meta.receiveTime : null,
        callback: performance.timeOrigin + callbackAt,
        width: meta.width,
        height: meta.height,
      });
    });
  };
  const scan = (node) => {
    if (!(node instanceof Element)) return;
    if (node.matches('video[aria-label="Their video"]')) watch(node);
    node.querySelectorAll('video[aria-label="Their video"]').forEach(watch);
  };
  new MutationObserver((records) => {
    for (const record of records) record.addedNodes.forEach(scan);
  }).observe(document, { childList: true, subtree: true });

  document.addEventListener(
    "click",
    (event) => {
      const target = event.target instanceof Element ? event.target.closest("button") : null;
      const ring = target ? target.closest('[role="alertdialog"]') : null;
      if (ring && target.textContent.trim() === "Accept") {
        bench.accept = performance.timeOrigin + event.timeStamp;
      }
    },
    true,
  );
})();
"""

FLOOR_PAGE = r"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Call floor</title></head>
<body>
<script>
// The floor: the same media set-up as widget/src/call/session.ts (devices, one
// RTCPeerConnection, the customer offers, trickled candidates), with no server, socket or UI.
// What must reach the other page leaves through window.benchSignal (a Playwright binding).
window.floor = (() => {
  let pc = null;
  let local = null;
  let ready = null;
  let role = null;
  let pending = [];
  let answered = false;
  let video = null;
  const send = (kind, data) => void window.benchSignal(kind, JSON.stringify(data));
  const stop = (stream) => stream && stream.getTracks().forEach((t) => t.stop());
  return {
    /** Start this side; returns the start time (performance.timeOrigin + performance.now()). */
    start(as, ice) {
      const t0 = performance.timeOrigin + performance.now();
      role = as;
      pending = [];
      answered = false;
      const remote = new MediaStream();
      video = document.createElement("video");
      video.setAttribute("aria-label", "Their video");
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      pc = new RTCPeerConnection({
        iceServers: ice.ice_servers.map((s) => ({
          urls: s.urls,
          ...(s.username ? { username: s.username } : {}),
          ...(s.credential ? { credential: s.credential } : {}),
        })),
        iceTransportPolicy: ice.ice_transport_policy,
      });
      pc.addEventListener("icecandidate", ({ candidate: c }) => {
        send("candidate", c
          ? { candidate: c.candidate, sdp_mid: c.sdpMid, sdp_mline_index: c.sdpMLineIndex }
          : null);
      });
      pc.addEventListener("track", ({ track }) => {
        remote.addTrack(track);
        if (video.srcObject !== remote) video.srcObject = remote;
        video.play().catch(() => {
          video.muted = true;
          video.play().catch(() => undefined);
        });
      });
      ready = (async () => {
        local = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true },
          video: { width: { ideal: 640 }, height: { ideal: 480 } },
        });
        if (role === "offerer") {
          for (const track of local.getTracks()) {
            pc.addTransceiver(track, { direction: "sendrecv", streams: [local] });
          }
          await pc.setLocalDescription(await pc.createOffer());
          send("offer", pc.localDescription.sdp);
        }
        return true;
      })();
      return t0;
    },
    async handle(kind, data) {
      await ready;
      if (kind === "offer") {
        await pc.setRemoteDescription({ type: "offer", sdp: data });
        if (!answered) {
          for (const track of local.getTracks()) {
            const t = pc.getTransceivers().find(
              (x) => x.receiver.track.kind === track.kind && !x.sender.track && x.mid !== null,
            );
            if (!t) continue;
            await t.sender.replaceTrack(track);
            t.sender.setStreams?.(local);
            t.direction = "sendrecv";
          }
        }
        answered = true;
        await pc.setLocalDescription(await pc.createAnswer());
        await flush();
        send("answer", pc.localDescription.sdp);
      } else if (kind === "answer") {
        await pc.setRemoteDescription({ type: "answer", sdp: data });
        await flush();
      } else if (kind === "candidate") {
        const init = data
          ? { candidate: data.candidate, sdpMid: data.sdp_mid, sdpMLineIndex: data.sdp_mline_index }
          : { candidate: "" };
        if (!pc.remoteDescription) pending.push(init);
        else await pc.addIceCandidate(init).catch(() => undefined);
      }
    },
    close() {
      stop(local);
      if (pc) pc.close();
      if (video) video.remove();
      pc = local = video = null;
    },
  };
  async function flush() {
    const queued = pending.splice(0);
    for (const c of queued) await pc.addIceCandidate(c).catch(() => undefined);
  }
})();
</script>
</body>
</html>
"""

/* Candidate microphone (docs/audio.md): an AudioWorklet taps the microphone; every second
   the samples become a 16 kHz, 16-bit mono WAV chunk, sent in order, one request at a
   time, to POST /api/sessions/{id}/audio. A slow server drops the oldest waiting chunks
   (at most 5 wait) rather than falling behind. */
"use strict";

const ProctorMicrophone = (() => {
  const CHUNK_S = 1.0;
  const RATE = 16000;
  const MAX_WAITING = 5;

  function concat(blocks, total) {
    const out = new Float32Array(total);
    let at = 0;
    for (const b of blocks) { out.set(b, at); at += b.length; }
    return out;
  }

  // To 16 kHz: the mean of each group of samples (48 kHz -> 3), or linear steps otherwise.
  function resample(x, rate) {
    if (rate === RATE) return x;
    const n = Math.floor(x.length * RATE / rate);
    const out = new Float32Array(n);
    const step = rate / RATE;
    if (Number.isInteger(step)) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < step; k++) s += x[i * step + k];
        out[i] = s / step;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const p = i * step, j = Math.floor(p), f = p - j;
        out[i] = x[j] * (1 - f) + (x[Math.min(j + 1, x.length - 1)] * f);
      }
    }
    return out;
  }

  function wavBase64(x) {
    const buf = new ArrayBuffer(44 + x.length * 2);
    const v = new DataView(buf);
    const text = (at, s) => { for (let i = 0; i < s.length; i++) v.setUint8(at + i, s.charCodeAt(i)); };
    text(0, "RIFF"); v.setUint32(4, 36 + x.length * 2, true); text(8, "WAVE");
    text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, RATE, true); v.setUint32(28, RATE * 2, true); v.setUint16(32, 2, true);
    v.setUint16(34, 16, true); text(36, "data"); v.setUint32(40, x.length * 2, true);
    for (let i = 0; i < x.length; i++) {
      const s = Math.max(-1, Math.min(1, x[i]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(bin);
  }

  /** Start listening; ``send(base64Wav)`` returns a promise. Resolves to {stop()}. */
  async function start(send) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
    });
    const ctx = new AudioContext();
    await ctx.audioWorklet.addModule("/console/static/mic-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    const tap = new AudioWorkletNode(ctx, "proctor-chunk-tap");
    const mute = ctx.createGain();
    mute.gain.value = 0; // the graph must reach the speakers to be pulled; nothing is heard
    source.connect(tap).connect(mute).connect(ctx.destination);
    const rate = ctx.sampleRate;
    let blocks = [], count = 0, sending = false, stopped = false;
    const waiting = [];

    async function pump() {
      if (sending) return;
      sending = true;
      while (waiting.length && !stopped) {
        try {
          await send(waiting.shift());
        } catch (err) {
          // gone or off for good; a busy 503 (queue full, Retry-After) only drops this chunk
          const off = err && err.status === 503 && err.body && err.body.audio_unavailable;
          if (err && (err.status === 404 || err.status === 409 || off)) stopped = true;
        }
      }
      sending = false;
    }

    tap.port.onmessage = (ev) => {
      if (stopped) return;
      blocks.push(ev.data);
      count += ev.data.length;
      if (count >= rate * CHUNK_S) {
        waiting.push(wavBase64(resample(concat(blocks, count), rate)));
        blocks = []; count = 0;
        while (waiting.length > MAX_WAITING) waiting.shift();
        pump();
      }
    };
    if (ctx.state === "suspended") await ctx.resume().catch(() => {});
    return {
      stop() {
        stopped = true;
        for (const track of stream.getTracks()) track.stop();
        ctx.close().catch(() => {});
      },
    };
  }

  return { start };
})();

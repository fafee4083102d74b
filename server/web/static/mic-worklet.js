/* Audio thread of the candidate microphone: hands every 128-sample block of the first
   channel to the page (microphone.js), which makes 1 s WAV chunks of them. */
"use strict";

class ProctorChunkTap extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor("proctor-chunk-tap", ProctorChunkTap);

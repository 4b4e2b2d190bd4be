import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
await tf.setBackend("cpu");
const a = tf.randomUniform([128, 13, 13, 4]);
for (const s of [[4], [1,1,1,4], [128,13,13,4], [128,1,1,4], [1]]) {
  const b = tf.randomUniform(s);
  tf.mul(a, b).dataSync();
  const t = performance.now();
  for (let i = 0; i < 10; i++) tf.mul(a, b).dataSync();
  console.log(s, ((performance.now() - t) / 10).toFixed(2), "ms");
}
const t = performance.now();
for (let i = 0; i < 10; i++) tf.sum(a, [0,1,2]).dataSync();
console.log("sum", ((performance.now() - t) / 10).toFixed(2));

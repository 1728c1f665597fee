export { ARGON2_REFERENCE, measureArgon2Reference } from "./argon2-reference.js";
export {
  type Measurement,
  type MeasureOptions,
  machineBusyMs,
  measure,
  percentile,
  type Summary,
  summarise,
} from "./stats.js";
export { formatMs, printMeasurements, printTable } from "./table.js";

// Parse an iCalendar file with Mozilla's ical.js and print its events as JSON.
//
//   node tests/js/ical_events.mjs FEED.ics      (or the text on stdin)
//
// Prints {"calendar": {...}, "events": [{uid, summary, location, sequence, start, end,
// start_zone, end_zone}, ...]} with start/end as UTC ISO strings. Exits 1 when ical.js cannot
// parse the text or finds no VCALENDAR, 2 when ical.js is not installed (run `make node-deps`).
// ICALJS_PATH may point at another copy of ical.js's ESM build.

import { readFileSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modulePath = process.env.ICALJS_PATH
  || resolve(here, "../../.cache/node/node_modules/ical.js/dist/ical.js");

if (!existsSync(modulePath)) {
  process.stderr.write(`ical.js not found at ${modulePath}: run \`make node-deps\`\n`);
  process.exit(2);
}
const ICAL = (await import(pathToFileURL(modulePath).href)).default;

function utc(time) {
  return time ? time.toJSDate().toISOString() : null;
}

function zoneOf(time) {
  // "UTC" for a ...Z time, "floating" for one without a zone, else the TZID.
  return time && time.zone ? time.zone.tzid : null;
}

let text;
try {
  text = readFileSync(process.argv[2] || 0, "utf8");
} catch (error) {
  process.stderr.write(`cannot read input: ${error.message}\n`);
  process.exit(1);
}

let calendar;
try {
  const parsed = ICAL.parse(text);
  // One component parses to a jCal array ["vcalendar", ...]; none or several to a list.
  if (typeof parsed[0] !== "string") {
    throw new Error(`expected one VCALENDAR, found ${parsed.length} components`);
  }
  calendar = new ICAL.Component(parsed);
} catch (error) {
  process.stderr.write(`ical.js could not parse the calendar: ${error.message || error}\n`);
  process.exit(1);
}
if (calendar.name !== "vcalendar") {
  process.stderr.write(`expected a VCALENDAR, found ${String(calendar.name).toUpperCase()}\n`);
  process.exit(1);
}

try {
  const events = calendar.getAllSubcomponents("vevent").map((component) => {
    const event = new ICAL.Event(component);
    return {
      uid: event.uid,
      summary: event.summary,
      location: event.location,
      sequence: event.sequence,
      start: utc(event.startDate),
      end: utc(event.endDate),
      start_zone: zoneOf(event.startDate),
      end_zone: zoneOf(event.endDate),
      alarms: component.getAllSubcomponents("valarm").length,
    };
  });
  const info = {
    name: calendar.getFirstPropertyValue("x-wr-calname"),
    prodid: calendar.getFirstPropertyValue("prodid"),
    version: calendar.getFirstPropertyValue("version"),
  };
  process.stdout.write(JSON.stringify({ calendar: info, events }) + "\n");
} catch (error) {
  process.stderr.write(`ical.js could not read the events: ${error.message || error}\n`);
  process.exit(1);
}

/**
 * The strftime subset nsq_to_file supports for --datetime-format (spec §6.3):
 * %Y %y %m %d %H %I %M %S %p %b %B %a %A %Z %z %%; any other `%x` is kept literally.
 * Local time.
 */
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function zoneName(d: Date): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
  return part?.value ?? "UTC";
}

function zoneOffset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

export function strftime(format: string, d: Date): string {
  let out = "";
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== "%" || i + 1 >= format.length) {
      out += ch;
      continue;
    }
    const token = format[++i]!;
    switch (token) {
      case "Y": out += String(d.getFullYear()); break;
      case "y": out += pad2(d.getFullYear() % 100); break;
      case "m": out += pad2(d.getMonth() + 1); break;
      case "d": out += pad2(d.getDate()); break;
      case "H": out += pad2(d.getHours()); break;
      case "I": out += pad2(d.getHours() % 12 === 0 ? 12 : d.getHours() % 12); break;
      case "M": out += pad2(d.getMinutes()); break;
      case "S": out += pad2(d.getSeconds()); break;
      case "p": out += d.getHours() < 12 ? "AM" : "PM"; break;
      case "b": out += MONTHS[d.getMonth()]!.slice(0, 3); break;
      case "B": out += MONTHS[d.getMonth()]!; break;
      case "a": out += DAYS[d.getDay()]!.slice(0, 3); break;
      case "A": out += DAYS[d.getDay()]!; break;
      case "Z": out += zoneName(d); break;
      case "z": out += zoneOffset(d); break;
      case "%": out += "%"; break;
      default: out += `%${token}`;
    }
  }
  return out;
}

// The people seeded into both directories (same names, passwords, mail and mobile on each side).
import type { SeedPerson } from "../../packages/server/src/lab/people.js";
import type { SeededUserName } from "../types.js";

export type { SeedPerson };

export const SEED_PEOPLE: Record<SeededUserName, SeedPerson> = {
  alice: {
    username: "alice",
    password: "Rabbit-Hole-41!",
    givenName: "Alice",
    sn: "Liddell",
    displayName: "Alice Liddell",
    mail: "alice@example.test",
    mobile: "+15555550101",
    inScope: true,
    admin: false,
  },
  bob: {
    username: "bob",
    password: "Can-We-Fix-It-2!",
    givenName: "Bob",
    sn: "Builder",
    displayName: "Bob Builder",
    mail: "bob@example.test",
    mobile: "+15555550102",
    inScope: true,
    admin: false,
  },
  carol: {
    username: "carol",
    password: "Noel-Singer-3!",
    givenName: "Carol",
    sn: "Danvers",
    displayName: "Carol Danvers",
    mail: "carol@example.test",
    mobile: "+15555550103",
    inScope: true,
    admin: true,
  },
  dave: {
    username: "dave",
    password: "Open-Pod-Bay-4!",
    givenName: "Dave",
    sn: "Bowman",
    displayName: "Dave Bowman",
    mail: "dave@example.test",
    mobile: "+15555550104",
    inScope: false,
    admin: false,
  },
};

export function seedEntries(): [SeededUserName, SeedPerson][] {
  return Object.entries(SEED_PEOPLE) as [SeededUserName, SeedPerson][];
}

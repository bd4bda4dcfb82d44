// A taskbox task in JavaScript: greets someone, and takes the greeting back
// when the flow it ran in fails later.
//
// Build:  bash scripts/plugin-js.sh DIR       (or: just plugin-js DIR)
// Run:    taskbox run DIR/flow.toml --plugins target/plugins

import { Failure, info, task } from "taskbox-sdk";

export default task({
  name: "greet",
  description: "Greets `name`. Fails with `greet.nobody` when the name is empty.",
  requires: ["name"],
  optional: ["punctuation"],
  provides: "greeting",

  execute({ name, punctuation = "!" }) {
    if (name.trim() === "") {
      throw new Failure("greet.nobody", "there is nobody to greet", { name });
    }
    info(`greeted ${name}`);
    return `Hello, ${name}${punctuation}`;
  },

  // Undoes `execute`; here it only logs what it takes back.
  revert({ name }, greeting) {
    if (greeting === null) {
      info(`nothing to take back from ${name}`);
    } else {
      info(`took back "${greeting}"`);
    }
  },
});

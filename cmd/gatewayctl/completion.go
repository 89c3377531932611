package main

import (
	"fmt"
	"io"
	"strings"
)

// commands lists gatewayctl's commands, their subcommands and flags, for
// shell completion.
var commands = []struct {
	name  string
	subs  []string
	flags []string
}{
	{"status", nil, nil},
	{"overview", nil, nil},
	{"devices", []string{"list", "show", "add", "remove"}, []string{"--type", "--module", "--secure", "--key", "--tag-len",
		"--max-message-id", "--profile", "--name", "--ocs-id", "--replace"}},
	{"sessions", nil, nil},
	{"readings", nil, []string{"--device", "--last"}},
	{"command", nil, []string{"--device", "--timeout"}},
	{"firmware", []string{"add", "list", "remove"}, []string{"--chunk-size"}},
	{"things", []string{"perform"}, []string{"--test-only"}},
	{"ports", nil, nil},
	{"links", nil, nil},
	{"errors", nil, nil},
	{"health", nil, []string{"--ready"}},
	{"rates", nil, nil},
	{"clock", nil, nil},
	{"pair", []string{"open", "close", "revoke"}, []string{"--for"}},
	{"josp", []string{"objects", "object", "services", "perms"}, []string{"--srv", "--usr", "--type", "--conn"}},
	{"upstream", []string{"status", "requeue", "discard"}, []string{"--all"}},
	{"oco", []string{"status", "forget-keys"}, []string{"--yes"}},
	{"web", []string{"password"}, []string{"--remove"}},
	{"completion", []string{"bash", "zsh"}, nil},
}

func completion(args []string, out io.Writer) error {
	if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
		return fmt.Errorf("%w: completion takes bash or zsh, e.g. gatewayctl completion bash > /etc/bash_completion.d/gatewayctl", errUsage)
	}
	var names []string
	var cases strings.Builder
	for _, c := range commands {
		names = append(names, c.name)
		words := append(append(append([]string{}, c.subs...), c.flags...), "--json")
		fmt.Fprintf(&cases, "    %s) words=%q ;;\n", c.name, strings.Join(words, " "))
	}
	script := bashCompletion
	if args[0] == "zsh" {
		script = "#compdef gatewayctl\nautoload -U +X bashcompinit && bashcompinit\n" + bashCompletion
	}
	script = strings.ReplaceAll(script, "@COMMANDS@", strings.Join(names, " "))
	script = strings.ReplaceAll(script, "@CASES@", cases.String())
	_, err := io.WriteString(out, script)
	return err
}

const bashCompletion = `# gatewayctl completion; load with: source <(gatewayctl completion bash)
_gatewayctl() {
  local cur cmd words i
  cur="${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      -socket|--socket) ((i++)) ;;
      -*) ;;
      *) cmd="${COMP_WORDS[i]}"; break ;;
    esac
  done
  if [[ -z "$cmd" ]]; then
    COMPREPLY=($(compgen -W "@COMMANDS@ -socket -version" -- "$cur"))
    return
  fi
  case "$cmd" in
@CASES@    *) words="--json" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _gatewayctl gatewayctl
`

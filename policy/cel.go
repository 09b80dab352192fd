package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// celCostLimit bounds one CEL evaluation. Policy expressions are short
// predicates; anything that needs more is a mistake (or an attack through a
// large input such as a long path) and fails closed.
const celCostLimit = 10_000

// celInterruptEvery makes ContextEval check for cancellation this often
// inside comprehensions.
const celInterruptEvery = 100

// newCELEnv declares the one variable expressions see: request, a map with
// app, agent, principal, provider, grant, host, method, path, action,
// source (strings), groups (list of strings) and time (timestamp).
func newCELEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("request", cel.MapType(cel.StringType, cel.DynType)))
}

func compileCEL(env *cel.Env, expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		// cel's messages embed the source position and a caret line; keep
		// the first line, which says what is wrong.
		msg, _, _ := strings.Cut(strings.TrimPrefix(iss.Err().Error(), "ERROR: <input>:"), "\n")
		msg = strings.TrimSuffix(msg, " (in container '')")
		return nil, fmt.Errorf("invalid CEL expression: %s", msg)
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("CEL expression must return a bool, not %s", t)
	}
	prg, err := env.Program(ast, cel.CostLimit(celCostLimit), cel.InterruptCheckFrequency(celInterruptEvery))
	if err != nil {
		return nil, fmt.Errorf("invalid CEL expression: %w", err)
	}
	return prg, nil
}

// celVars builds the activation for one input; built lazily, at most once
// per evaluation, and only when a rule with a CEL condition is reached.
func celVars(in *Input) map[string]any {
	source := ""
	if in.Source.IsValid() {
		source = in.Source.Unmap().String()
	}
	groups := in.Groups
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{"request": map[string]any{
		"app":       in.AppID,
		"agent":     in.Agent,
		"principal": in.Principal,
		"provider":  in.ProviderID,
		"grant":     in.GrantID,
		"host":      in.Host,
		"method":    in.Method,
		"path":      in.Path,
		"action":    in.Action,
		"source":    source,
		"groups":    groups,
		"time":      in.Now,
	}}
}

var errNotBool = errors.New("CEL expression did not return a bool")

func evalCEL(ctx context.Context, prg cel.Program, vars map[string]any) (bool, error) {
	// ContextEval checks for cancellation only inside long comprehensions;
	// a request that is already gone must not be allowed by a short one.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	out, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errNotBool
	}
	return b, nil
}

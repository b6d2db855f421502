"""Graph algorithms over a parsed prompt, all iterative (a 5,000-node chain is fine)."""

from __future__ import annotations

from collections import deque

from executor.graph import Graph, LinkRef


def ancestors(graph: Graph, *node_ids: str) -> dict[str, None]:
    """The given nodes and every node they depend on through links, as an ordered set.

    Links to nodes that are not in the prompt are skipped (validation reports them).
    """
    seen: dict[str, None] = dict.fromkeys(node_ids)
    stack = list(node_ids)
    while stack:
        current = stack.pop()
        for value in graph.nodes[current].inputs.values():
            if isinstance(value, LinkRef) and value.node_id in graph.nodes:
                if value.node_id not in seen:
                    seen[value.node_id] = None
                    stack.append(value.node_id)
    return seen


def topological_order(graph: Graph, nodes: list[str]) -> tuple[list[str], list[str]]:
    """Kahn's algorithm over ``nodes``: (ordered nodes, nodes left over because of cycles).

    Ties keep the given order, so the result is deterministic.
    """
    members = set(nodes)
    parents: dict[str, set[str]] = {n: set() for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for node_id in nodes:
        for value in graph.nodes[node_id].inputs.values():
            if isinstance(value, LinkRef) and value.node_id in members:
                if value.node_id not in parents[node_id]:
                    parents[node_id].add(value.node_id)
                    children[value.node_id].append(node_id)
    pending = {n: len(p) for n, p in parents.items()}
    ready = deque(n for n in nodes if pending[n] == 0)
    order: list[str] = []
    while ready:
        current = ready.popleft()
        order.append(current)
        for child in children[current]:
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
    placed = set(order)
    return order, [n for n in nodes if n not in placed]


def find_cycles(graph: Graph, nodes: list[str]) -> dict[str, str]:
    """For each node on a cycle, a text naming the cycle (``"3 → 5 → 3"``).

    Uses networkx, imported only when a cycle exists.
    """
    import networkx as nx

    members = set(nodes)
    digraph = nx.DiGraph()
    digraph.add_nodes_from(nodes)
    for node_id in nodes:
        for value in graph.nodes[node_id].inputs.values():
            if isinstance(value, LinkRef) and value.node_id in members:
                digraph.add_edge(value.node_id, node_id)
    named: dict[str, str] = {}
    for component in nx.strongly_connected_components(digraph):
        if len(component) == 1 and not digraph.has_edge(*(list(component) * 2)):
            continue
        cycle = nx.find_cycle(digraph.subgraph(component))
        path = [edge[0] for edge in cycle] + [cycle[0][0]]
        text = "cycle " + " → ".join(
            f"{n} ({graph.nodes[n].class_type})" for n in path
        )
        for node_id in component:
            named[node_id] = text
    return named

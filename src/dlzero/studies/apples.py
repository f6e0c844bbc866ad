"""The book's first computational graphs (sections 5.2 to 5.4): apples, and apples and oranges.

Each graph is computed by the layers of chapter 5, ``MulLayer`` and ``AddLayer``: forward
gives the price; backward, from ``dprice = 1``, gives the derivative of the price with respect
to every edge. The result keeps each edge's two numbers, the value going forward and the
gradient coming back, and where the book places the nodes, so that
``dlzero.plotting.plot_computational_graph`` can draw it as the book does (forward numbers
above the arrows, backward numbers below).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlzero.layers import AddLayer, MulLayer

__all__ = [
    "ComputationalGraph",
    "GraphEdge",
    "GraphNode",
    "buy_apples",
    "buy_apples_and_oranges",
]


@dataclass(frozen=True)
class GraphNode:
    """A node of a small computational graph.

    ``op`` is ``"x"`` (multiplication) or ``"+"`` for a computing node, ``""`` for an input or
    the output (drawn as its name only). ``x``, ``y``: where it is drawn (inches).
    """

    name: str
    op: str
    x: float
    y: float


@dataclass(frozen=True)
class GraphEdge:
    """An edge from ``source`` to ``target``, its value forward and its gradient backward."""

    source: str
    target: str
    forward: float
    backward: float


@dataclass(frozen=True)
class ComputationalGraph:
    """A small computational graph with the numbers of one forward and one backward pass."""

    title: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]

    def edge(self, source: str, target: str) -> GraphEdge:
        """The edge from ``source`` to ``target``."""
        for e in self.edges:
            if (e.source, e.target) == (source, target):
                return e
        raise KeyError(f"no edge {source} -> {target}")


def buy_apples(apple: float = 100, apple_num: float = 2, tax: float = 1.1) -> ComputationalGraph:
    """Two apples at 100 each and a tax of 1.1 (the book's first example): two ``MulLayer``.

    Forward, 100 x 2 = 200, then 200 x 1.1 = 220; backward from 1, the tax node swaps its
    inputs (d price / d 200 = 1.1, d price / d tax = 200), and so does the apple node
    (d price / d apple = 1.1 x 2 = 2.2, d price / d apple_num = 1.1 x 100 = 110).
    """
    mul_apple, mul_tax = MulLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    price = mul_tax.forward(apple_price, tax)
    dprice = 1
    dapple_price, dtax = mul_tax.backward(dprice)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    nodes = [
        GraphNode("apple", "", 0.0, 1.6),
        GraphNode("apple_num", "", 0.0, 0.0),
        GraphNode("mul_apple", "x", 2.6, 1.0),
        GraphNode("tax", "", 2.6, -0.6),
        GraphNode("mul_tax", "x", 5.2, 1.0),
        GraphNode("price", "", 7.6, 1.0),
    ]
    edges = [
        GraphEdge("apple", "mul_apple", apple, dapple),
        GraphEdge("apple_num", "mul_apple", apple_num, dapple_num),
        GraphEdge("mul_apple", "mul_tax", apple_price, dapple_price),
        GraphEdge("tax", "mul_tax", tax, dtax),
        GraphEdge("mul_tax", "price", price, dprice),
    ]
    return ComputationalGraph("buying two apples", nodes, edges)


def buy_apples_and_oranges(
    apple: float = 100,
    apple_num: float = 2,
    orange: float = 150,
    orange_num: float = 3,
    tax: float = 1.1,
) -> ComputationalGraph:
    """Two apples, three oranges at 150 and a tax of 1.1 (the book's exercise).

    Three ``MulLayer`` and one ``AddLayer``: the addition node passes the gradient 1.1 through
    to both branches unchanged; each multiplication swaps its inputs.
    """
    mul_apple, mul_orange, add_fruit, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)
    dprice = 1
    dall_price, dtax = mul_tax.backward(dprice)
    dapple_price, dorange_price = add_fruit.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    nodes = [
        GraphNode("apple", "", 0.0, 4.0),
        GraphNode("apple_num", "", 0.0, 2.4),
        GraphNode("mul_apple", "x", 2.6, 3.2),
        GraphNode("orange", "", 0.0, 1.2),
        GraphNode("orange_num", "", 0.0, -0.4),
        GraphNode("mul_orange", "x", 2.6, 0.4),
        GraphNode("add_fruit", "+", 5.0, 1.8),
        GraphNode("tax", "", 5.0, -0.6),
        GraphNode("mul_tax", "x", 7.4, 1.8),
        GraphNode("price", "", 9.8, 1.8),
    ]
    edges = [
        GraphEdge("apple", "mul_apple", apple, dapple),
        GraphEdge("apple_num", "mul_apple", apple_num, dapple_num),
        GraphEdge("orange", "mul_orange", orange, dorange),
        GraphEdge("orange_num", "mul_orange", orange_num, dorange_num),
        GraphEdge("mul_apple", "add_fruit", apple_price, dapple_price),
        GraphEdge("mul_orange", "add_fruit", orange_price, dorange_price),
        GraphEdge("add_fruit", "mul_tax", all_price, dall_price),
        GraphEdge("tax", "mul_tax", tax, dtax),
        GraphEdge("mul_tax", "price", price, dprice),
    ]
    return ComputationalGraph("buying apples and oranges", nodes, edges)

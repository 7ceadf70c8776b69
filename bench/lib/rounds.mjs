// The order of one round of runs. Every round runs each scenario once, in
// list order; a baseline twin (--baseline: `abOf` names the aiomsg-ts scenario
// it is compared with, listed right before it) runs right after its partner
// in odd rounds and right before it in even ones, so neither build always
// goes first.
export function roundOrder(list, round) {
  const order = [...list];
  if (round % 2 === 0) {
    for (let i = 0; i + 1 < order.length; i++) {
      if (order[i + 1].abOf === order[i].id) [order[i], order[i + 1]] = [order[i + 1], order[i]];
    }
  }
  return order;
}

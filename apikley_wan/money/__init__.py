"""What a run costs and may cost: the price table and its override, the budget guard and its caps, measured cost,
create pacing, the run report.
"""
